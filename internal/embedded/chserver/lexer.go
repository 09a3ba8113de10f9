package chserver

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokenKind is the class of a lexical token of ClickHouse SQL.
type tokenKind uint8

const (
	tokWord        tokenKind = iota + 1 // bare word: keyword or identifier
	tokQuotedIdent                      // "name" or `name`
	tokString                           // 'text', x'41', $tag$text$tag$
	tokNumber
	tokOpenParen
	tokCloseParen
	tokOpenBracket
	tokCloseBracket
	tokOpenBrace
	tokCloseBrace
	tokComma
	tokSemicolon
	tokDot
	tokEquals
	tokOperator // any other operator or punctuation
)

// token is one significant token (no whitespace, no comments); text is its
// slice of the input.
type token struct {
	kind tokenKind
	text string
	pos  int // byte offset in the input
}

// is reports whether t is the bare word w (keywords are case-insensitive).
func (t token) is(w string) bool { return t.kind == tokWord && strings.EqualFold(t.text, w) }

// name is the identifier t stands for: a bare word as is, a quoted one
// unquoted; "" for other tokens.
func (t token) name() string {
	switch t.kind {
	case tokWord:
		return t.text
	case tokQuotedIdent:
		return unquote(t.text)
	}
	return ""
}

// lexError is input the lexer does not accept; the engine would not either.
type lexError struct {
	pos int
	msg string
}

func (e *lexError) Error() string { return fmt.Sprintf("%s at position %d", e.msg, e.pos+1) }

// lex splits a ClickHouse query into significant tokens, following the
// engine's lexer (src/Parsers/Lexer.cpp): -- // # and nested /* */
// comments, quoted strings and identifiers with backslash escapes and
// doubled quotes, heredocs. Where the engine reports an error token, lex
// returns an error, so that nothing the engine would read differently
// passes through.
func lex(q string) ([]token, error) {
	var out []token
	l := lexer{q: q}
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		if t.kind == 0 {
			return out, nil
		}
		out = append(out, t)
	}
}

// lexer reads tokens one at a time, so that a caller can stop where SQL
// ends and data begins.
type lexer struct {
	q    string
	i    int
	prev tokenKind // the last significant token's kind
}

// next returns the next significant token, a zero token at the end.
func (l *lexer) next() (token, error) {
	q, n := l.q, len(l.q)
	for l.i < n {
		i := l.i
		c := q[i]
		start := i
		emit := func(kind tokenKind, end int) (token, error) {
			l.i = end
			l.prev = kind
			return token{kind: kind, text: q[start:end], pos: start}, nil
		}
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.i++
		case c >= '0' && c <= '9':
			i = lexNumber(q, i, l.prev == tokDot)
			kind := tokNumber
			if i < n && isWordChar(q[i]) { // 1identifier is a bare word
				for i < n && (isWordChar(q[i]) || q[i] == '$') {
					i++
				}
				kind = tokWord
			}
			return emit(kind, i)
		case c == '\'' || c == '"' || c == '`':
			end, ok := quotedEnd(q, i)
			if !ok {
				return token{}, &lexError{start, "quoted text is not closed"}
			}
			if c == '\'' {
				return emit(tokString, end)
			}
			return emit(tokQuotedIdent, end)
		case c == '(':
			return emit(tokOpenParen, i+1)
		case c == ')':
			return emit(tokCloseParen, i+1)
		case c == '[':
			return emit(tokOpenBracket, i+1)
		case c == ']':
			return emit(tokCloseBracket, i+1)
		case c == '{':
			return emit(tokOpenBrace, i+1)
		case c == '}':
			return emit(tokCloseBrace, i+1)
		case c == ',':
			return emit(tokComma, i+1)
		case c == ';':
			return emit(tokSemicolon, i+1)
		case c == '.':
			afterValue := l.prev == tokCloseParen || l.prev == tokCloseBracket ||
				l.prev == tokWord || l.prev == tokQuotedIdent || l.prev == tokNumber
			if i > 0 && (!(i+1 < n && isDigit(q[i+1])) || afterValue) {
				return emit(tokDot, i+1)
			}
			return emit(tokNumber, lexNumber(q, i, false))
		case c == '-':
			if i+1 < n && q[i+1] == '-' {
				l.i = lineEnd(q, i)
				continue
			}
			if i+1 < n && q[i+1] == '>' {
				return emit(tokOperator, i+2)
			}
			return emit(tokOperator, i+1)
		case c == '/':
			if i+1 < n && q[i+1] == '/' {
				l.i = lineEnd(q, i)
				continue
			}
			if i+1 < n && q[i+1] == '*' {
				end, ok := commentEnd(q, i)
				if !ok {
					return token{}, &lexError{start, "multiline comment is not closed"}
				}
				l.i = end
				continue
			}
			return emit(tokOperator, i+1)
		case c == '#':
			if i+1 < n && (q[i+1] == ' ' || q[i+1] == '!') {
				l.i = lineEnd(q, i)
				continue
			}
			return token{}, &lexError{start, "unrecognized token '#'"}
		case c == '=':
			if i+1 < n && q[i+1] == '=' {
				return emit(tokEquals, i+2)
			}
			return emit(tokEquals, i+1)
		case c == '!':
			if i+1 < n && q[i+1] == '=' {
				return emit(tokOperator, i+2)
			}
			return token{}, &lexError{start, "exclamation mark can only occur in != operator"}
		case c == '<':
			if i+1 < n && (q[i+1] == '=' || q[i+1] == '>') {
				return emit(tokOperator, i+2)
			}
			return emit(tokOperator, i+1)
		case c == '>':
			if i+1 < n && q[i+1] == '=' {
				return emit(tokOperator, i+2)
			}
			return emit(tokOperator, i+1)
		case c == ':' || c == '|' || c == '@':
			if i+1 < n && q[i+1] == c {
				return emit(tokOperator, i+2)
			}
			return emit(tokOperator, i+1)
		case c == '+' || c == '*' || c == '%' || c == '?':
			return emit(tokOperator, i+1)
		case c == '\\':
			if i+1 < n && q[i+1] == 'G' {
				return emit(tokOperator, i+2)
			}
			return token{}, &lexError{start, "unrecognized token '\\'"}
		case c == '$':
			if end, ok := heredocEnd(q, i); ok {
				return emit(tokString, end)
			}
			if i+1 == n || !isWordChar(q[i+1]) {
				return emit(tokOperator, i+1)
			}
			for i < n && (isWordChar(q[i]) || q[i] == '$') {
				i++
			}
			return emit(tokWord, i)
		case (c == 'x' || c == 'X' || c == 'b' || c == 'B') && i+2 < n && q[i+1] == '\'':
			end := i + 2
			for end < n && q[end] != '\'' {
				end++
			}
			if end >= n {
				return token{}, &lexError{start, "quoted text is not closed"}
			}
			return emit(tokString, end+1)
		case isWordChar(c):
			for i < n && (isWordChar(q[i]) || q[i] == '$') {
				i++
			}
			return emit(tokWord, i)
		default:
			r, size := utf8.DecodeRuneInString(q[i:])
			if r == utf8.RuneError || !unicode.IsSpace(r) {
				return token{}, &lexError{start, "unrecognized token"}
			}
			l.i += size
		}
	}
	return token{}, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isWordChar(c byte) bool {
	return c == '_' || isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

func isHexDigit(c byte) bool { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }

// lexNumber returns the end of the number starting at i. After a dot only
// an integer is read, so that tuple access x.1.1 stays three tokens.
func lexNumber(q string, i int, afterDot bool) int {
	n := len(q)
	digit := isDigit
	if afterDot {
		for i < n && (isDigit(q[i]) || q[i] == '_') {
			i++
		}
		return i
	}
	if i+2 < n && q[i] == '0' && (q[i+1]|0x20 == 'x') && isHexDigit(q[i+2]) {
		i += 2
		digit = isHexDigit
	} else if i+2 < n && q[i] == '0' && (q[i+1]|0x20 == 'b') && (q[i+2] == '0' || q[i+2] == '1') {
		i += 2
	}
	for i < n && (digit(q[i]) || q[i] == '_') {
		i++
	}
	if i < n && q[i] == '.' {
		i++
		for i < n && (digit(q[i]) || q[i] == '_') {
			i++
		}
	}
	if i+1 < n && (q[i]|0x20 == 'e' || q[i]|0x20 == 'p') {
		j := i + 1
		if j+1 < n && (q[j] == '-' || q[j] == '+') {
			j++
		}
		if j < n && isDigit(q[j]) {
			i = j
			for i < n && (isDigit(q[i]) || q[i] == '_') {
				i++
			}
		}
	}
	return i
}

// quotedEnd returns the end of the quoted text starting at i (its quote
// character), with backslash escapes and doubled quotes.
func quotedEnd(q string, i int) (int, bool) {
	quote := q[i]
	i++
	for i < len(q) {
		switch q[i] {
		case '\\':
			i += 2
		case quote:
			if i+1 < len(q) && q[i+1] == quote {
				i += 2
				continue
			}
			return i + 1, true
		default:
			i++
		}
	}
	return len(q), false
}

// commentEnd returns the end of the (nestable) /* comment */ at i.
func commentEnd(q string, i int) (int, bool) {
	depth := 0
	for i+1 < len(q) {
		switch {
		case q[i] == '/' && q[i+1] == '*':
			depth++
			i += 2
		case q[i] == '*' && q[i+1] == '/':
			depth--
			i += 2
			if depth == 0 {
				return i, true
			}
		default:
			i++
		}
	}
	return len(q), false
}

func lineEnd(q string, i int) int {
	if j := strings.IndexByte(q[i:], '\n'); j >= 0 {
		return i + j
	}
	return len(q)
}

// heredocEnd returns the end of the heredoc $tag$...$tag$ at i, as the
// engine reads it: the tag is everything up to the next $.
func heredocEnd(q string, i int) (int, bool) {
	j := strings.IndexByte(q[i+1:], '$')
	if j < 0 {
		return 0, false
	}
	tag := q[i : i+1+j+1]
	k := strings.Index(q[i+len(tag):], tag)
	if k < 0 {
		return 0, false
	}
	return i + len(tag) + k + len(tag), true
}

// unquote returns the text of a quoted string or identifier.
func unquote(s string) string {
	if len(s) < 2 {
		return s
	}
	switch s[0] {
	case '\'', '"', '`':
	case '$':
		tag := s[:strings.IndexByte(s[1:], '$')+2]
		return s[len(tag) : len(s)-len(tag)]
	default:
		return s
	}
	quote := s[0]
	body := s[1 : len(s)-1]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\\' && i+1 < len(body):
			i++
			switch e := body[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '0':
				b.WriteByte(0)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'a':
				b.WriteByte('\a')
			case 'v':
				b.WriteByte('\v')
			default:
				b.WriteByte(e)
			}
		case c == quote && i+1 < len(body) && body[i+1] == quote:
			b.WriteByte(c)
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
