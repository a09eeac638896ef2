package dashboards

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The Prometheus module is not a dependency, so its parser is not at hand:
// this is a lexer just good enough to find the metric names an expression
// selects. promtool (check.sh) does the full syntax check.

// grafanaDuration is the value given to Grafana's interval variables outside
// a string: any valid duration keeps the expression valid PromQL.
func grafanaDuration(name string) (string, bool) {
	switch name {
	case "__rate_interval":
		return "5m", true
	case "__interval":
		return "1m", true
	case "__range":
		return "1d", true
	case "__interval_ms":
		return "60000", true
	case "__range_s":
		return "86400", true
	case "__range_ms":
		return "86400000", true
	}
	return "", false
}

// oldVariableSyntax is Grafana's deprecated [[name]] or [[name:format]];
// a regular expression's [[:alpha:]] does not match.
var oldVariableSyntax = regexp.MustCompile(`\[\[[a-zA-Z0-9_]+(?::[^\]]*)?\]\]`)

// substituteVariables replaces Grafana variables ($name, ${name},
// ${name:format}) with values that keep the expression valid PromQL: inside
// a string (a label matcher) a variable becomes ".*"; outside one only
// Grafana's interval variables may stand. Every variable must be defined in
// the dashboard or be one of Grafana's interval variables. In a string, a
// '$' that starts no name is a regular expression's end anchor or a capture
// group reference, and stays.
func substituteVariables(expr string, defined map[string]bool) (string, error) {
	if old := oldVariableSyntax.FindString(expr); old != "" {
		return "", fmt.Errorf("deprecated variable syntax %s: write ${name}", old)
	}
	var out strings.Builder
	var quote byte // the quote of the string being read, 0 outside strings
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case quote != 0 && c == '\\' && quote != '`' && i+1 < len(expr):
			out.WriteByte(c)
			out.WriteByte(expr[i+1])
			i++
			continue
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\'' || c == '`'):
			quote = c
		}
		if c != '$' || quote != 0 && !startsVariable(expr[i:]) {
			out.WriteByte(c)
			continue
		}
		name, length, err := variableAt(expr[i:])
		if err != nil {
			return "", err
		}
		duration, isInterval := grafanaDuration(name)
		switch {
		case !defined[name] && !isInterval:
			return "", fmt.Errorf("variable $%s is not defined in the dashboard", name)
		case quote != 0:
			out.WriteString(".*")
		case isInterval:
			out.WriteString(duration)
		default:
			return "", fmt.Errorf("variable $%s is used outside a label matcher, where its values would not be valid PromQL", name)
		}
		i += length - 1
	}
	if quote != 0 {
		return "", fmt.Errorf("unterminated string in %q", expr)
	}
	return out.String(), nil
}

// startsVariable reports whether s, which begins with '$', begins with a
// variable reference rather than a capture group reference such as
// label_replace's "$1".
func startsVariable(s string) bool {
	return len(s) > 1 && (s[1] == '{' || s[1] == '_' || s[1] >= 'a' && s[1] <= 'z' || s[1] >= 'A' && s[1] <= 'Z')
}

// variableAt reads the variable reference at the start of s, which begins
// with '$', and returns its name and length.
func variableAt(s string) (name string, length int, err error) {
	if strings.HasPrefix(s, "${") {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return "", 0, fmt.Errorf("unterminated variable reference %q", s)
		}
		name, _, _ = strings.Cut(s[2:end], ":")
		if !isVariableName(name) {
			return "", 0, fmt.Errorf("invalid variable reference %q", s[:end+1])
		}
		return name, end + 1, nil
	}
	end := 1
	for end < len(s) && isNameByte(s[end]) {
		end++
	}
	if end == 1 {
		return "", 0, fmt.Errorf("'$' not followed by a variable name in %q", s)
	}
	return s[1:end], end, nil
}

func isVariableName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

type tokenKind int

const (
	identifierToken tokenKind = iota // a metric, label, function or keyword
	numberToken                      // numbers and durations
	stringToken
	punctuationToken // one character: ( ) { } [ ] , = ! etc.
	variableToken    // a Grafana variable outside a string, by its name
)

type token struct {
	kind tokenKind
	text string
}

// tokenize splits a PromQL expression in which Grafana variables have been
// replaced.
func tokenize(expr string) ([]token, error) {
	var tokens []token
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '$':
			// Only an expression as written has variables here; one whose
			// variables were substituted has none outside strings.
			name, length, err := variableAt(expr[i:])
			if err != nil {
				return nil, err
			}
			tokens = append(tokens, token{variableToken, name})
			i += length
		case c == '"' || c == '\'' || c == '`':
			end := i + 1
			for end < len(expr) && expr[end] != c {
				if expr[end] == '\\' && c != '`' {
					end++
				}
				end++
			}
			if end >= len(expr) {
				return nil, fmt.Errorf("unterminated string at %q", expr[i:])
			}
			tokens = append(tokens, token{stringToken, expr[i+1 : end]})
			i = end + 1
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(expr) && expr[i+1] >= '0' && expr[i+1] <= '9':
			// Covers 1.5, 1e-3, 0x1f and durations such as 1h30m.
			end := i + 1
			for end < len(expr) && (isNameByte(expr[end]) || expr[end] == '.' ||
				(expr[end] == '-' || expr[end] == '+') && (expr[end-1] == 'e' || expr[end-1] == 'E')) {
				end++
			}
			tokens = append(tokens, token{numberToken, expr[i:end]})
			i = end
		case c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			end := i + 1
			for end < len(expr) && (isNameByte(expr[end]) || expr[end] == ':') {
				end++
			}
			tokens = append(tokens, token{identifierToken, expr[i:end]})
			i = end
		default:
			r, size := utf8.DecodeRuneInString(expr[i:])
			if r > unicode.MaxASCII {
				return nil, fmt.Errorf("unexpected character %q outside a string", r)
			}
			tokens = append(tokens, token{punctuationToken, expr[i : i+size]})
			i += size
		}
	}
	return tokens, nil
}

// isLabelListKeyword reports whether a keyword is followed by a list of
// label names in parentheses.
func isLabelListKeyword(word string) bool {
	switch strings.ToLower(word) {
	case "by", "without", "on", "ignoring", "group_left", "group_right":
		return true
	}
	return false
}

// isKeyword covers PromQL's keywords that may stand where a metric name
// could: binary operators, modifiers and special numbers. PromQL reads them
// in any case.
func isKeyword(word string) bool {
	switch strings.ToLower(word) {
	case "and", "or", "unless", "atan2", "bool", "offset", "inf", "nan",
		"by", "without", "on", "ignoring", "group_left", "group_right":
		return true
	}
	return false
}

// isAggregation covers PromQL's aggregation operators, read in any case.
func isAggregation(word string) bool {
	switch strings.ToLower(word) {
	case "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
		"count_values", "bottomk", "topk", "quantile":
		return true
	}
	return false
}

// isFunction covers the functions of Prometheus 2.42, the version checking
// the rules, plus start() and end() of the @ modifier.
func isFunction(word string) bool {
	switch word {
	case "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh",
		"atan", "atanh", "avg_over_time", "ceil", "changes", "clamp", "clamp_max",
		"clamp_min", "cos", "cosh", "count_over_time", "days_in_month",
		"day_of_month", "day_of_week", "day_of_year", "deg", "delta", "deriv",
		"exp", "floor", "histogram_count", "histogram_fraction",
		"histogram_quantile", "histogram_sum", "holt_winters", "hour", "idelta",
		"increase", "irate", "label_join", "label_replace", "last_over_time",
		"ln", "log10", "log2", "max_over_time", "min_over_time", "minute",
		"month", "pi", "predict_linear", "present_over_time",
		"quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn",
		"sin", "sinh", "sort", "sort_desc", "sqrt", "stddev_over_time",
		"stdvar_over_time", "sum_over_time", "tan", "tanh", "time", "timestamp",
		"vector", "year", "start", "end":
		return true
	}
	return false
}

// selectedMetrics returns the metric names an expression (with Grafana
// variables replaced) selects, by name or through a __name__ matcher, in
// order of appearance.
func selectedMetrics(expr string) ([]string, error) {
	scan, err := scanExpr(expr)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(scan.selectors))
	for _, s := range scan.selectors {
		names = append(names, s.metric)
	}
	return names, nil
}

// selectorUse is a vector selector of an expression and where it stands.
type selectorUse struct {
	metric string
	call   string // the innermost function or aggregation around it, "" if none
	ranged bool   // followed by a range, foo[5m], rather than a subquery or nothing
}

// rangeUse is a range or subquery window, [5m] or [1h:1m].
type rangeUse struct {
	call   string  // the innermost function or aggregation around it, "" if none
	window []token // between the brackets
}

// exprScan is what scanExpr finds in an expression.
type exprScan struct {
	selectors []selectorUse
	ranges    []rangeUse
}

// scanExpr finds the vector selectors and range windows of an expression,
// each with the function call it stands in. It reads an expression as
// written, whose interval variables become variableTokens, as well as one
// whose variables were substituted.
func scanExpr(expr string) (exprScan, error) {
	var scan exprScan
	tokens, err := tokenize(expr)
	if err != nil {
		return scan, err
	}
	var calls []string // the open parentheses: the call each belongs to, "" for grouping
	innermost := func() string {
		if len(calls) == 0 {
			return ""
		}
		return calls[len(calls)-1]
	}
	lastSelector, selectorEnd := -1, -1 // the latest selector and its last token
	for i := 0; i < len(tokens); i++ {
		tok := tokens[i]
		switch {
		case tok.kind == punctuationToken && tok.text == "(":
			call := ""
			if i > 0 && tokens[i-1].kind == identifierToken && (isFunction(tokens[i-1].text) || isAggregation(tokens[i-1].text)) {
				call = tokens[i-1].text
			}
			calls = append(calls, call)
		case tok.kind == punctuationToken && tok.text == ")":
			if len(calls) > 0 {
				calls = calls[:len(calls)-1]
			}
		case tok.kind == punctuationToken && tok.text == "{":
			end, name, err := readMatchers(tokens, i)
			if err != nil {
				return scan, err
			}
			switch {
			case name != "":
				scan.selectors = append(scan.selectors, selectorUse{metric: name, call: innermost()})
				lastSelector, selectorEnd = len(scan.selectors)-1, end
			case lastSelector >= 0 && selectorEnd == i-1:
				selectorEnd = end // the matchers of foo{...}
			}
			i = end
		case tok.kind == punctuationToken && tok.text == "[":
			// A range or subquery: durations or interval variables, and
			// ':' (read as a name starting with ':') as a separator.
			end := i + 1
			for end < len(tokens) && tokens[end].text != "]" {
				end++
			}
			window := tokens[i+1 : min(end, len(tokens))]
			scan.ranges = append(scan.ranges, rangeUse{call: innermost(), window: window})
			if lastSelector >= 0 && selectorEnd == i-1 && !isSubquery(window) {
				scan.selectors[lastSelector].ranged = true
			}
			i = end
		case tok.kind != identifierToken:
		case i+1 < len(tokens) && tokens[i+1].text == "(":
			if isLabelListKeyword(tok.text) {
				end, err := closingParenthesis(tokens, i+1)
				if err != nil {
					return scan, err
				}
				i = end
				continue
			}
			// A binary operator before a parenthesis: "a or (b)".
			if !isAggregation(tok.text) && !isFunction(tok.text) && !isKeyword(tok.text) {
				return scan, fmt.Errorf("unknown function %s()", tok.text)
			}
		case isKeyword(tok.text):
		case isAggregation(tok.text) && i+1 < len(tokens) && isLabelListKeyword(tokens[i+1].text):
			// sum by (label) (...): the grouping comes before the argument.
		default:
			scan.selectors = append(scan.selectors, selectorUse{metric: tok.text, call: innermost()})
			lastSelector, selectorEnd = len(scan.selectors)-1, i
		}
	}
	return scan, nil
}

// isSubquery reports whether a window is a subquery's, [range:step].
func isSubquery(window []token) bool {
	for _, tok := range window {
		if strings.HasPrefix(tok.text, ":") {
			return true
		}
	}
	return false
}

// readMatchers reads the label matchers opening at tokens[open] and returns
// the index of the closing brace and the metric name a __name__="..."
// matcher sets, if any. Label names are not metric names.
func readMatchers(tokens []token, open int) (end int, name string, err error) {
	for i := open + 1; i < len(tokens); i++ {
		switch {
		case tokens[i].text == "}" && tokens[i].kind == punctuationToken:
			return i, name, nil
		case tokens[i].kind == identifierToken && tokens[i].text == "__name__" &&
			i+2 < len(tokens) && tokens[i+1].text == "=" && tokens[i+2].kind == stringToken:
			name = tokens[i+2].text
		}
	}
	return 0, "", fmt.Errorf("unclosed '{'")
}

// closingParenthesis returns the index of the parenthesis closing
// tokens[open].
func closingParenthesis(tokens []token, open int) (int, error) {
	depth := 0
	for i := open; i < len(tokens); i++ {
		if tokens[i].kind != punctuationToken {
			continue
		}
		switch tokens[i].text {
		case "(":
			depth++
		case ")":
			depth--
			if depth == 0 {
				return i, nil
			}
		}
	}
	return 0, fmt.Errorf("unclosed '('")
}
