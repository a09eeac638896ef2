package emsim

import (
	"fmt"
	"strings"
	"time"
)

// The filter grammar of EM's query service:
//
//	or         = and { "," and }
//	and        = term { ";" term }
//	term       = "(" or ")" | comparison
//	comparison = FIELD op value
//	op         = "==" | "!=" | "<" | ">" | "<=" | ">="
//	value      = '"' { any | '""' } '"' | bare
//
// A bare value runs to the next ";", "," or ")" and loses its spaces, as
// EM silently drops unquoted spaces; quotes protect spaces, separators and
// doubled quotes.

type compareOp uint8

const (
	opEqual compareOp = iota
	opNotEqual
	opLess
	opGreater
	opLessOrEqual
	opGreaterOrEqual
)

// Two-character operators first, so "<=" is not read as "<".
var compareOps = []struct {
	token string
	op    compareOp
}{{"==", opEqual}, {"!=", opNotEqual}, {"<=", opLessOrEqual}, {">=", opGreaterOrEqual}, {"<", opLess}, {">", opGreater}}

type conditionKind uint8

const (
	conditionCompare conditionKind = iota
	conditionAnd
	conditionOr
)

// condition is a parsed filter.
type condition[T any] struct {
	kind     conditionKind
	children []*condition[T] // for and, or
	field    *field[T]       // for compare
	op       compareOp
	operand  fieldValue
}

func (c *condition[T]) match(e T, now time.Time) bool {
	switch c.kind {
	case conditionAnd:
		for _, child := range c.children {
			if !child.match(e, now) {
				return false
			}
		}
		return true
	case conditionOr:
		for _, child := range c.children {
			if child.match(e, now) {
				return true
			}
		}
		return false
	}
	v, ok := c.field.value(e, now)
	if !ok {
		// A missing value (a running session's EndTime) equals nothing.
		return c.op == opNotEqual
	}
	return c.op.holds(c.field.compare(v, c.operand))
}

func (op compareOp) holds(order int) bool {
	switch op {
	case opEqual:
		return order == 0
	case opNotEqual:
		return order != 0
	case opLess:
		return order < 0
	case opGreater:
		return order > 0
	case opLessOrEqual:
		return order <= 0
	}
	return order >= 0
}

// creationRange is a half-open interval of creation times.
type creationRange struct {
	from, to       time.Time // from inclusive, to exclusive
	hasFrom, hasTo bool
	// exact: the filter selects exactly the sessions in the range, so the
	// range alone answers it.
	exact bool
}

// creationRange bounds the creation times the filter can select, so a
// query binary-searches instead of scanning all of history.
func (c *condition[T]) creationRange() creationRange {
	switch c.kind {
	case conditionAnd:
		r := creationRange{exact: true}
		for _, child := range c.children {
			cr := child.creationRange()
			if cr.hasFrom && (!r.hasFrom || cr.from.After(r.from)) {
				r.from, r.hasFrom = cr.from, true
			}
			if cr.hasTo && (!r.hasTo || cr.to.Before(r.to)) {
				r.to, r.hasTo = cr.to, true
			}
			r.exact = r.exact && cr.exact
		}
		return r
	case conditionOr:
		r := c.children[0].creationRange()
		r.exact = false
		for _, child := range c.children[1:] {
			cr := child.creationRange()
			r.hasFrom = r.hasFrom && cr.hasFrom
			if r.hasFrom && cr.from.Before(r.from) {
				r.from = cr.from
			}
			r.hasTo = r.hasTo && cr.hasTo
			if r.hasTo && cr.to.After(r.to) {
				r.to = cr.to
			}
		}
		return r
	}
	if c.field.name != creationTimeField {
		return creationRange{}
	}
	v := c.operand.time
	switch c.op {
	case opEqual:
		return creationRange{from: v, to: v.Add(time.Nanosecond), hasFrom: true, hasTo: true, exact: true}
	case opLess:
		return creationRange{to: v, hasTo: true, exact: true}
	case opLessOrEqual:
		return creationRange{to: v.Add(time.Nanosecond), hasTo: true, exact: true}
	case opGreater:
		return creationRange{from: v.Add(time.Nanosecond), hasFrom: true, exact: true}
	case opGreaterOrEqual:
		return creationRange{from: v, hasFrom: true, exact: true}
	}
	return creationRange{}
}

// filterError is a filter EM would reject with 400.
type filterError struct {
	pos int
	msg string
}

func (e *filterError) Error() string {
	return fmt.Sprintf("invalid filter at position %d: %s", e.pos, e.msg)
}

type filterParser[T any] struct {
	src    string
	pos    int
	fields fieldSet[T]
	typ    string
}

func parseFilter[T any](src string, fields fieldSet[T], typeName string) (*condition[T], error) {
	p := &filterParser[T]{src: src, fields: fields, typ: typeName}
	c, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpaces()
	if p.pos < len(p.src) {
		return nil, p.errorf("unexpected %q", p.src[p.pos:])
	}
	return c, nil
}

func (p *filterParser[T]) errorf(format string, args ...any) error {
	return &filterError{pos: p.pos, msg: fmt.Sprintf(format, args...)}
}

func (p *filterParser[T]) skipSpaces() {
	for p.pos < len(p.src) && p.src[p.pos] == ' ' {
		p.pos++
	}
}

// peek reports whether the next character, after spaces, is c.
func (p *filterParser[T]) peek(c byte) bool {
	p.skipSpaces()
	return p.pos < len(p.src) && p.src[p.pos] == c
}

func (p *filterParser[T]) parseOr() (*condition[T], error) {
	return p.parseList(',', conditionOr, p.parseAnd)
}

func (p *filterParser[T]) parseAnd() (*condition[T], error) {
	return p.parseList(';', conditionAnd, p.parseTerm)
}

func (p *filterParser[T]) parseList(sep byte, kind conditionKind, item func() (*condition[T], error)) (*condition[T], error) {
	first, err := item()
	if err != nil {
		return nil, err
	}
	items := []*condition[T]{first}
	for p.peek(sep) {
		p.pos++
		next, err := item()
		if err != nil {
			return nil, err
		}
		items = append(items, next)
	}
	if len(items) == 1 {
		return first, nil
	}
	return &condition[T]{kind: kind, children: items}, nil
}

func (p *filterParser[T]) parseTerm() (*condition[T], error) {
	if !p.peek('(') {
		return p.parseComparison()
	}
	p.pos++
	c, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if !p.peek(')') {
		return nil, p.errorf("missing )")
	}
	p.pos++
	return c, nil
}

func (p *filterParser[T]) parseComparison() (*condition[T], error) {
	p.skipSpaces()
	start := p.pos
	for p.pos < len(p.src) && isNameByte(p.src[p.pos]) {
		p.pos++
	}
	name := p.src[start:p.pos]
	if name == "" {
		if p.pos == len(p.src) {
			return nil, p.errorf("expected a field name, found the end of the filter")
		}
		return nil, p.errorf("expected a field name, found %q", p.src[p.pos:])
	}
	f, ok := p.fields.lookup(name)
	if !ok {
		return nil, &filterError{pos: start, msg: fmt.Sprintf("unknown field %q for type %s; known fields: %s", name, p.typ, p.fields.names())}
	}

	p.skipSpaces()
	op, ok := p.parseOp()
	if !ok {
		rest := p.src[p.pos:]
		if strings.HasPrefix(rest, "=") {
			return nil, p.errorf("unknown operator \"=\" after %s; use ==", f.name)
		}
		return nil, p.errorf("expected one of == != < > <= >= after %s, found %q", f.name, rest)
	}

	p.skipSpaces()
	valueStart := p.pos
	literal, err := p.parseValue()
	if err != nil {
		return nil, err
	}
	operand, err := f.parseLiteral(literal)
	if err != nil {
		return nil, &filterError{pos: valueStart, msg: err.Error()}
	}
	return &condition[T]{kind: conditionCompare, field: f, op: op, operand: operand}, nil
}

func (p *filterParser[T]) parseOp() (compareOp, bool) {
	for _, candidate := range compareOps {
		if strings.HasPrefix(p.src[p.pos:], candidate.token) {
			p.pos += len(candidate.token)
			return candidate.op, true
		}
	}
	return 0, false
}

func (p *filterParser[T]) parseValue() (string, error) {
	if p.pos < len(p.src) && p.src[p.pos] == '"' {
		return p.parseQuoted()
	}
	var b strings.Builder
	start := p.pos
	for p.pos < len(p.src) && !strings.ContainsRune(";,)", rune(p.src[p.pos])) {
		if p.src[p.pos] != ' ' {
			b.WriteByte(p.src[p.pos])
		}
		p.pos++
	}
	if b.Len() == 0 {
		return "", &filterError{pos: start, msg: "expected a value"}
	}
	return b.String(), nil
}

func (p *filterParser[T]) parseQuoted() (string, error) {
	open := p.pos
	p.pos++
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		p.pos++
		if c != '"' {
			b.WriteByte(c)
			continue
		}
		if p.pos < len(p.src) && p.src[p.pos] == '"' {
			b.WriteByte('"')
			p.pos++
			continue
		}
		p.skipSpaces()
		if p.pos < len(p.src) && !strings.ContainsRune(";,)", rune(p.src[p.pos])) {
			return "", p.errorf("unexpected %q after a quoted value", p.src[p.pos:])
		}
		return b.String(), nil
	}
	return "", &filterError{pos: open, msg: "unterminated quoted value"}
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}
