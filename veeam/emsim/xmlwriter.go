package emsim

import (
	"bufio"
	"io"
	"strconv"
	"time"
)

const (
	emNamespace = "http://www.veeam.com/ent/v1.0"
	xmlHeader   = `<?xml version="1.0" encoding="utf-8"?>` + "\n"
	contentXML  = "application/xml; charset=utf-8"
)

// xmlWriter streams EM's XML straight to the response. Write errors are
// sticky in bufio.Writer and surface at flush.
type xmlWriter struct {
	w *bufio.Writer
}

func newXMLWriter(dst io.Writer) xmlWriter {
	return xmlWriter{w: bufio.NewWriterSize(dst, 32<<10)}
}

func (x xmlWriter) flush() error { return x.w.Flush() }

func (x xmlWriter) raw(s string) { x.w.WriteString(s) }

// open writes "<name" and leaves the tag open for attributes.
func (x xmlWriter) open(name string) {
	x.w.WriteByte('<')
	x.w.WriteString(name)
}

func (x xmlWriter) attr(name, value string) {
	x.w.WriteByte(' ')
	x.w.WriteString(name)
	x.w.WriteString(`="`)
	x.escape(value)
	x.w.WriteByte('"')
}

func (x xmlWriter) closeEmpty() { x.w.WriteString(" />") }

func (x xmlWriter) closeOpen() { x.w.WriteByte('>') }

func (x xmlWriter) end(name string) {
	x.w.WriteString("</")
	x.w.WriteString(name)
	x.w.WriteByte('>')
}

// element writes <name>value</name>, or <name /> for an empty value. A
// padded element surrounds its value with spaces, as some real answers do.
func (x xmlWriter) element(name, value string, padded bool) {
	if value == "" {
		x.open(name)
		x.closeEmpty()
		return
	}
	x.open(name)
	x.closeOpen()
	if padded {
		x.w.WriteByte(' ')
	}
	x.escape(value)
	if padded {
		x.w.WriteByte(' ')
	}
	x.end(name)
}

func (x xmlWriter) link(rel, typ, href, name string) {
	x.open("Link")
	x.attr("Rel", rel)
	if typ != "" {
		x.attr("Type", typ)
	}
	x.attr("Href", href)
	if name != "" {
		x.attr("Name", name)
	}
	x.closeEmpty()
}

func (x xmlWriter) escape(s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var entity string
		switch s[i] {
		case '&':
			entity = "&amp;"
		case '<':
			entity = "&lt;"
		case '>':
			entity = "&gt;"
		case '"':
			entity = "&quot;"
		case '\t':
			entity = "&#x9;"
		case '\n':
			entity = "&#xA;"
		case '\r':
			entity = "&#xD;"
		default:
			continue
		}
		x.w.WriteString(s[last:i])
		x.w.WriteString(entity)
		last = i + 1
	}
	x.w.WriteString(s[last:])
}

// emTime renders a UTC time with its fractional digits, trailing zeros
// dropped, as EM does.
func emTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

func itoa(n int) string { return strconv.Itoa(n) }
