package veeam

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// xmlScanner reads an XML document tag by tag straight from a bufio.Reader,
// without building tokens for what the caller skips. It checks what the
// decoder relies on (balanced tags, quoting, character references) and
// leaves the rest of XML's well-formedness rules alone.
type xmlScanner struct {
	r *bufio.Reader
	// spill holds markup that did not fit in the reader's buffer.
	spill []byte
	// open is the raw names of the open elements, back to back; ends marks
	// where each one ends.
	open []byte
	ends []int
}

// markupKind is what follows a '<'.
type markupKind int

const (
	markupStart markupKind = iota
	markupEnd
	markupCDATA
	markupOther // comment, processing instruction, declaration
)

// markup is one tag; body is valid until the next read.
type markup struct {
	kind        markupKind
	body        []byte // for a start tag: name and attributes; for CDATA: its text
	name        []byte // raw name, prefix included
	selfClosing bool
}

// scanBufferSize is the read buffer of a scanner. A *bufio.Reader of at
// least that size is scanned as it is, without another buffer.
const scanBufferSize = 64 << 10

func newXMLScanner(r io.Reader) *xmlScanner {
	return &xmlScanner{r: bufio.NewReaderSize(r, scanBufferSize)}
}

var errTruncated = fmt.Errorf("document ends inside an element: %w", io.ErrUnexpectedEOF)

func syntaxError(format string, args ...any) error {
	return fmt.Errorf("XML syntax error: "+format, args...)
}

// text reads up to the next '<' and consumes it. The text is valid until the
// next read; at the end of the input it is returned with io.EOF.
func (s *xmlScanner) text() ([]byte, error) {
	b, err := s.r.ReadSlice('<')
	if err == nil {
		return b[:len(b)-1], nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return b, err
	}
	s.spill = append(s.spill[:0], b...)
	for {
		b, err = s.r.ReadSlice('<')
		s.spill = append(s.spill, b...)
		if err == nil {
			return s.spill[:len(s.spill)-1], nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return s.spill, err
		}
	}
}

// readThrough reads up to and including the terminator, which is only
// recognised outside quotes when quoted is set.
func (s *xmlScanner) readThrough(terminator string, quoted bool) ([]byte, error) {
	last := terminator[len(terminator)-1]
	s.spill = s.spill[:0]
	spilled := false
	for {
		b, err := s.r.ReadSlice(last)
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				err = errTruncated
			}
			return nil, err
		}
		full := b
		if spilled || err != nil {
			s.spill = append(s.spill, b...)
			full = s.spill
			spilled = true
		}
		if err == nil && bytes.HasSuffix(full, []byte(terminator)) && (!quoted || balancedQuotes(full)) {
			return full, nil
		}
		if !spilled {
			s.spill = append(s.spill, b...)
			spilled = true
		}
	}
}

func balancedQuotes(b []byte) bool {
	var quote byte
	for _, c := range b {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		}
	}
	return quote == 0
}

// markup reads the markup after a '<'.
func (s *xmlScanner) markup() (markup, error) {
	first, err := s.r.Peek(1)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errTruncated
		}
		return markup{}, err
	}
	switch first[0] {
	case '/':
		b, err := s.readThrough(">", false)
		if err != nil {
			return markup{}, err
		}
		name := bytes.TrimRight(b[1:len(b)-1], " \t\r\n")
		if !validName(name) {
			return markup{}, syntaxError("invalid end tag </%s>", name)
		}
		return markup{kind: markupEnd, name: name}, s.closeElement(name)
	case '?':
		_, err := s.readThrough("?>", false)
		return markup{kind: markupOther}, err
	case '!':
		head, err := s.r.Peek(3)
		if err == nil && string(head) == "!--" {
			_, err := s.readThrough("-->", false)
			return markup{kind: markupOther}, err
		}
		head, err = s.r.Peek(8)
		if err == nil && string(head) == "![CDATA[" {
			b, err := s.readThrough("]]>", false)
			if err != nil {
				return markup{}, err
			}
			return markup{kind: markupCDATA, body: b[8 : len(b)-3]}, nil
		}
		return markup{kind: markupOther}, s.skipDeclaration()
	}
	b, err := s.readThrough(">", true)
	if err != nil {
		return markup{}, err
	}
	m := markup{kind: markupStart, body: b[:len(b)-1]}
	if n := len(m.body); n > 0 && m.body[n-1] == '/' {
		m.selfClosing = true
		m.body = m.body[:n-1]
	}
	end := bytes.IndexAny(m.body, " \t\r\n")
	if end < 0 {
		end = len(m.body)
	}
	m.name = m.body[:end]
	if !validName(m.name) {
		return markup{}, syntaxError("invalid element name %q", m.name)
	}
	if !m.selfClosing {
		s.open = append(s.open, m.name...)
		s.ends = append(s.ends, len(s.open))
	}
	return m, nil
}

// skipDeclaration skips a <!DOCTYPE ...> or similar, internal subset included.
func (s *xmlScanner) skipDeclaration() error {
	depth := 1
	var quote byte
	for depth > 0 {
		c, err := s.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errTruncated
			}
			return err
		}
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '<':
			depth++
		case c == '>':
			depth--
		}
	}
	return nil
}

func (s *xmlScanner) depth() int { return len(s.ends) }

func (s *xmlScanner) closeElement(name []byte) error {
	n := len(s.ends)
	if n == 0 {
		return syntaxError("unexpected end element </%s>", name)
	}
	start := 0
	if n > 1 {
		start = s.ends[n-2]
	}
	if open := s.open[start:]; !bytes.Equal(open, name) {
		return syntaxError("element <%s> closed by </%s>", open, name)
	}
	s.open = s.open[:start]
	s.ends = s.ends[:n-1]
	return nil
}

// validName accepts what encoding/xml accepts as a name with at most one
// colon, for the ASCII names EM uses, and any non-ASCII letters.
func validName(name []byte) bool {
	if len(name) == 0 || bytes.Count(name, []byte(":")) > 1 {
		return false
	}
	for i, c := range name {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_', c == ':', c >= utf8.RuneSelf:
		case i > 0 && ('0' <= c && c <= '9' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// localName is what follows the prefix, as encoding/xml splits a name.
func localName(name []byte) []byte {
	if i := bytes.IndexByte(name, ':'); i > 0 && i < len(name)-1 {
		return name[i+1:]
	}
	return name
}

// prefix is the name's namespace prefix, empty when it has none.
func prefix(name []byte) []byte {
	if i := bytes.IndexByte(name, ':'); i > 0 && i < len(name)-1 {
		return name[:i]
	}
	return nil
}

// attributes calls visit with each attribute of a start tag, its value
// still raw (character references undecoded).
func attributes(body []byte, visit func(name, raw []byte)) error {
	rest := body[bytes.IndexAny(body, " \t\r\n")+1:]
	if len(rest) == len(body) {
		return nil
	}
	for {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		if len(rest) == 0 {
			return nil
		}
		eq := bytes.IndexByte(rest, '=')
		if eq < 0 {
			return syntaxError("attribute %q has no value", rest)
		}
		name := bytes.TrimRight(rest[:eq], " \t\r\n")
		if !validName(name) {
			return syntaxError("invalid attribute name %q", name)
		}
		rest = bytes.TrimLeft(rest[eq+1:], " \t\r\n")
		if len(rest) == 0 || rest[0] != '"' && rest[0] != '\'' {
			return syntaxError("unquoted or missing value for attribute %s", name)
		}
		end := bytes.IndexByte(rest[1:], rest[0])
		if end < 0 {
			return syntaxError("unterminated value of attribute %s", name)
		}
		raw := rest[1 : end+1]
		if bytes.IndexByte(raw, '<') >= 0 {
			return syntaxError("unescaped < in the value of attribute %s", name)
		}
		visit(name, raw)
		rest = rest[end+2:]
	}
}

// appendUnescaped appends raw text or an attribute value with its character
// references decoded and its line ends normalised to \n, as XML prescribes.
func appendUnescaped(dst, raw []byte) ([]byte, error) {
	if bytes.IndexByte(raw, '&') < 0 && bytes.IndexByte(raw, '\r') < 0 {
		return append(dst, raw...), nil
	}
	for len(raw) > 0 {
		c := raw[0]
		switch c {
		case '\r':
			dst = append(dst, '\n')
			raw = raw[1:]
			if len(raw) > 0 && raw[0] == '\n' {
				raw = raw[1:]
			}
			continue
		case '&':
			end := bytes.IndexByte(raw, ';')
			if end < 0 {
				return dst, syntaxError("invalid character entity %s (no semicolon)", raw)
			}
			r, ok := characterReference(raw[1:end])
			if !ok {
				return dst, syntaxError("invalid character entity %s", raw[:end+1])
			}
			dst = utf8.AppendRune(dst, r)
			raw = raw[end+1:]
			continue
		}
		dst = append(dst, c)
		raw = raw[1:]
	}
	return dst, nil
}

func characterReference(ref []byte) (rune, bool) {
	switch string(ref) {
	case "amp":
		return '&', true
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "quot":
		return '"', true
	case "apos":
		return '\'', true
	}
	if len(ref) < 2 || ref[0] != '#' {
		return 0, false
	}
	digits, base := ref[1:], 10
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	n, err := strconv.ParseUint(string(digits), base, 32)
	if err != nil || !isXMLChar(rune(n)) {
		return 0, false
	}
	return rune(n), true
}

// isXMLChar is XML's Char production.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
