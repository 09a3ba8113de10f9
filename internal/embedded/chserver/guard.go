package chserver

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// guard decides, before the engine sees a request, whether its user may run
// it. The engine enforces what it can itself (grants, settings constraints,
// readonly, allow_ddl: see engineconfig.go and SECURITY.md); the guard
// covers what the embedded engine does not check: the file() function,
// INTO OUTFILE and FROM INFILE (done by the engine's client side, outside
// any grant), KILL, statements no role needs, settings that read or write
// files, and the per-role limits, which one engine user cannot tell apart.
//
// Queries are judged twice: as the client wrote them (lex), and as the
// engine's own parser renders them (formatQuery), so that comments,
// quoting and odd spacing cannot hide a call from the check.
type guard struct {
	denied map[string]bool // lower-cased names of functions, table functions and engines no role may call
	limits RoleLimits
}

// safeTableFunctions are the engine's table functions that read nothing
// but their arguments and the engine's own tables. Every other table
// function the engine lists is refused, so one added by a newer engine is
// refused until it is looked at.
var safeTableFunctions = map[string]bool{
	"numbers": true, "numbers_mt": true, "zeros": true, "zeros_mt": true, "values": true, "null": true,
	"view": true, "viewifpermitted": true, "viewexplain": true, "merge": true, "generaterandom": true,
	"generateseries": true, "generate_series": true, "primes": true, "format": true, "input": true,
	"loop": true, "sqlstandardvalues": true, "mergetreeindex": true, "mergetreeprojection": true,
	"mergetreeanalyzeindexes": true, "mergetreeanalyzeindexesuuid": true, "mergetreetextindex": true,
	"timeseriesdata": true, "timeseriesmetrics": true, "timeseriestags": true, "timeseriesselector": true,
}

// alwaysDenied are names refused whatever the engine lists: functions
// that read files or load code (the embedded engine does not check file()
// against any grant), custom disks (disk(type = web, endpoint = ...) is a
// request to any URL), and table and database engines that reach outside.
var alwaysDenied = []string{
	"file", "url", "disk", "executable", "executablepool", "catboostevaluate", "naivebayesclassifier",
	"logtrace", "addresstoline", "addresstolinewithinlines", "addresstosymbol", "demangle",
	"filesystem", "remote", "remotesecure", "cluster", "clusterallreplicas", "s3", "s3queue",
	"azurequeue", "azureblobstorage", "hdfs", "hive", "jdbc", "odbc", "mysql", "postgresql",
	"materializedpostgresql", "materializedmysql", "mongodb", "redis", "sqlite", "kafka", "rabbitmq",
	"nats", "filelog", "embeddedrocksdb", "keepermap", "distributed", "backup", "datalakecatalog",
	"fuzzquery", "fuzzjson", "arrowflight", "ytsaurus", "dictionary",
}

func newGuard(tableFunctions []string, limits RoleLimits) *guard {
	g := &guard{denied: map[string]bool{}, limits: limits}
	for _, n := range alwaysDenied {
		g.denied[n] = true
	}
	for _, n := range tableFunctions {
		if l := strings.ToLower(n); !safeTableFunctions[l] {
			g.denied[l] = true
		}
	}
	return g
}

// Settings a client may not change: they would undo the role (readonly,
// allow_ddl, profile), parse the query as another language (dialect),
// reset other settings at once (compatibility), read or write files or
// URLs from the engine, or run SQL that no check sees. The engine holds
// most of them constant as well (engineconfig.go).
var deniedSettings = map[string]bool{
	"readonly": true, "allow_ddl": true, "profile": true, "dialect": true, "compatibility": true,
	"allow_introspection_functions": true, "send_logs_level": true, "implicit_select": true,
	"format_schema": true, "format_schema_source": true, "format_template_resultset": true,
	"format_template_row": true, "output_format_schema": true, "input_format_record_errors_file_path": true,
	"format_avro_schema_registry_url": true, "rename_files_after_processing": true, "url_base": true,
	"additional_result_filter": true, "parallel_replicas_custom_key": true,
	"allow_experimental_kusto_dialect": true, "allow_experimental_prql_dialect": true,
	// The CPU and IO workload a query is scheduled in: none is defined
	// (CREATE WORKLOAD is refused), and naming one must not become a way
	// above the pipeline's inserts if one ever is.
	"workload": true,
}

// sqlSettings hold SQL expressions in string literals (Grafana's ad hoc
// filters use additional_table_filters): their expressions are checked as
// queries are.
var sqlSettings = map[string]bool{"additional_table_filters": true}

// limitSetting returns the role's bound for a limit setting, and whether
// name is one.
func (g *guard) limitSetting(role Role, name string) (float64, bool) {
	l := g.limits.of(role)
	switch name {
	case "max_execution_time":
		return float64(seconds(l.MaxExecutionTime)), true
	case "max_memory_usage":
		return float64(l.MaxMemoryUsage), true
	case "max_result_bytes":
		return float64(l.MaxResultBytes), true
	}
	return 0, false
}

func accessDenied(user, msg string) *httpError {
	return &httpError{status: http.StatusForbidden, code: 497,
		msg: fmt.Sprintf("Code: 497. DB::Exception: %s: Not enough privileges. %s. (ACCESS_DENIED)", user, msg)}
}

func readonlyError(user string) *httpError {
	return &httpError{status: http.StatusForbidden, code: 164,
		msg: fmt.Sprintf("Code: 164. DB::Exception: %s: Cannot execute query in readonly mode. (READONLY)", user)}
}

func settingViolation(msg string) *httpError {
	return &httpError{status: http.StatusBadRequest, code: 452,
		msg: "Code: 452. DB::Exception: " + msg + ". (SETTING_CONSTRAINT_VIOLATION)"}
}

func syntaxError(msg string) *httpError {
	return &httpError{status: http.StatusBadRequest, code: 62, msg: "Code: 62. DB::Exception: Syntax error: " + msg + ". (SYNTAX_ERROR)"}
}

// urlSetting judges a setting sent as a URL argument and returns the value
// to apply. A limit above the role's (or 0, no limit) becomes the role's:
// clients set these without being asked (clickhouse-go sends the context's
// deadline + 5s as max_execution_time), and the role decides.
func (g *guard) urlSetting(user string, role Role, name, value string) (string, error) {
	if bound, ok := g.limitSetting(role, strings.ToLower(name)); ok {
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return "", settingViolation(fmt.Sprintf("Setting %s must be a number here (got %s)", name, value))
		}
		if v <= 0 || v > bound {
			return strconv.FormatFloat(bound, 'f', -1, 64), nil
		}
		return value, nil
	}
	return value, g.checkSetting(user, role, name, value)
}

// checkSetting judges one setting a client asks for in SQL (a SET
// statement or a SETTINGS clause), or in the URL. value is its SQL text.
func (g *guard) checkSetting(user string, role Role, name, value string) error {
	lname := strings.ToLower(name)
	if strings.HasPrefix(lname, "param_") { // SET param_x: a query parameter, not a setting
		return nil
	}
	if deniedSettings[lname] {
		if lname == "readonly" && role == RoleReader {
			return &httpError{status: http.StatusForbidden, code: 164, msg: "Code: 164. DB::Exception: Cannot modify 'readonly' setting in readonly mode. (READONLY)"}
		}
		return settingViolation(fmt.Sprintf("Setting %s should not be changed", name))
	}
	if lname == "os_thread_priority" {
		// A client may lower its queries' priority, never raise it above
		// the pipeline's inserts and merges (with CAP_SYS_NICE the engine
		// would renice its threads below 0 for anyone asking).
		v, err := strconv.ParseFloat(strings.Trim(value, "'"), 64)
		if err != nil || v < 0 {
			return settingViolation(fmt.Sprintf("Setting %s shouldn't be less than 0", name))
		}
		return nil
	}
	if bound, ok := g.limitSetting(role, lname); ok {
		v, err := strconv.ParseFloat(strings.Trim(value, "'"), 64)
		switch {
		case err != nil:
			return settingViolation(fmt.Sprintf("Setting %s must be a number here (got %s)", name, value))
		case v < 1:
			return settingViolation(fmt.Sprintf("Setting %s shouldn't be less than 1", name))
		case v > bound:
			return settingViolation(fmt.Sprintf("Setting %s shouldn't be greater than %.0f", name, bound))
		}
	}
	if sqlSettings[lname] {
		toks, err := lex(value)
		if err != nil {
			return syntaxError(fmt.Sprintf("setting %s: %v", name, err))
		}
		for _, t := range toks {
			if t.kind != tokString {
				continue
			}
			if err := g.checkExpression(user, unquote(t.text)); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkExpression judges SQL that is not a statement: a filter in a
// setting, or rows of the Values format, whose expressions the engine
// evaluates.
func (g *guard) checkExpression(user, sql string) error {
	toks, err := lex(sql)
	if err != nil {
		return syntaxError(err.Error())
	}
	return g.checkTokens(user, toks)
}

// checkTokens refuses calls of denied functions, INTO OUTFILE and FROM
// INFILE, and PARALLEL WITH (several statements in one), anywhere.
func (g *guard) checkTokens(user string, toks []token) error {
	for i, t := range toks {
		switch {
		case (t.kind == tokWord || t.kind == tokQuotedIdent) && i+1 < len(toks) && toks[i+1].kind == tokOpenParen:
			if name := t.name(); g.denied[strings.ToLower(name)] {
				return accessDenied(user, fmt.Sprintf("%s(...) is not allowed on the embedded endpoint: it reaches files, URLs or other servers from the engine's host", name))
			}
		case t.is("OUTFILE"):
			return &httpError{status: http.StatusForbidden, code: 358, msg: "Code: 358. DB::Exception: INTO OUTFILE is not allowed: it writes a file on the server. (INTO_OUTFILE_NOT_ALLOWED)"}
		case t.is("INFILE"):
			return accessDenied(user, "FROM INFILE is not allowed: it reads a file of the server")
		case t.is("PARALLEL") && i+1 < len(toks) && toks[i+1].is("WITH"):
			return syntaxError("several statements in one query (PARALLEL WITH) are not allowed")
		}
	}
	return nil
}

// checkRaw judges the query text as the client sent it: one statement,
// no denied call or file clause. Insert data never gets here (see
// splitInsert).
func (g *guard) checkRaw(user, query string) error {
	toks, err := lex(query)
	if err != nil {
		return syntaxError(err.Error())
	}
	for i, t := range toks {
		if t.kind == tokSemicolon && i != len(toks)-1 {
			return syntaxError("multi-statements are not allowed")
		}
	}
	return g.checkTokens(user, toks)
}

// checkCanonical judges a statement as the engine's parser formatted it:
// its kind against the role, then every call and setting in it.
func (g *guard) checkCanonical(user string, role Role, canonical string) error {
	toks, err := lex(canonical)
	if err != nil {
		return syntaxError(err.Error())
	}
	for len(toks) > 0 && toks[len(toks)-1].kind == tokSemicolon {
		toks = toks[:len(toks)-1]
	}
	if len(toks) == 0 {
		return syntaxError("empty query")
	}
	if err := g.checkStatement(user, role, toks); err != nil {
		return err
	}
	if err := g.checkTokens(user, toks); err != nil {
		return err
	}
	return g.checkSettingsClauses(user, role, toks)
}

// checkSettingsClauses applies checkSetting to every SETTINGS clause.
func (g *guard) checkSettingsClauses(user string, role Role, toks []token) error {
	for i, t := range toks {
		if !t.is("SETTINGS") {
			continue
		}
		for _, p := range settingPairs(toks[i+1:]) {
			if err := g.checkSetting(user, role, p.name, p.value); err != nil {
				return err
			}
		}
	}
	return nil
}

type settingPair struct{ name, value string }

// settingPairs reads `name = value, ...` from the start of toks and stops
// at the first thing that is not one.
func settingPairs(toks []token) []settingPair {
	var out []settingPair
	i := 0
	for i+2 < len(toks) && (toks[i].kind == tokWord || toks[i].kind == tokQuotedIdent) && toks[i+1].kind == tokEquals {
		end := valueEnd(toks, i+2)
		if end <= i+2 {
			break
		}
		out = append(out, settingPair{name: toks[i].name(), value: joinTokens(toks[i+2 : end])})
		if end >= len(toks) || toks[end].kind != tokComma {
			break
		}
		i = end + 1
	}
	return out
}

// valueEnd returns the end of the literal starting at toks[i]: one token,
// a signed number, or a bracketed map, array or tuple.
func valueEnd(toks []token, i int) int {
	if i >= len(toks) {
		return i
	}
	switch toks[i].kind {
	case tokOpenBrace, tokOpenBracket, tokOpenParen:
		depth := 0
		for j := i; j < len(toks); j++ {
			switch toks[j].kind {
			case tokOpenBrace, tokOpenBracket, tokOpenParen:
				depth++
			case tokCloseBrace, tokCloseBracket, tokCloseParen:
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(toks)
	case tokOperator:
		if toks[i].text == "-" || toks[i].text == "+" {
			return min(i+2, len(toks))
		}
	}
	return i + 1
}

func joinTokens(toks []token) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
	}
	return b.String()
}

// checkStatement judges the kind of statement toks is against role.
func (g *guard) checkStatement(user string, role Role, toks []token) error {
	first := toks[0]
	needAdmin := func() error {
		switch role {
		case RoleReader: // as ClickHouse answers in readonly mode (and for GET)
			return readonlyError(user)
		case RoleWriter:
			return accessDenied(user, fmt.Sprintf("To execute %s, it's necessary to have the role admin", strings.ToUpper(first.text)))
		}
		return nil
	}
	word := func(i int) token {
		if i < len(toks) {
			return toks[i]
		}
		return token{}
	}
	switch {
	case first.kind == tokOpenParen, first.is("SELECT"), first.is("WITH"), first.is("SHOW"),
		first.is("DESCRIBE"), first.is("DESC"), first.is("EXISTS"), first.is("USE"):
		return nil
	case first.is("EXPLAIN"):
		i := 1
		for i < len(toks) && (toks[i].is("AST") || toks[i].is("SYNTAX") || toks[i].is("QUERY") || toks[i].is("TREE") ||
			toks[i].is("PLAN") || toks[i].is("PIPELINE") || toks[i].is("ESTIMATE") || toks[i].is("TABLE") || toks[i].is("OVERRIDE")) {
			i++
		}
		for i+1 < len(toks) && toks[i].kind == tokWord && toks[i+1].kind == tokEquals {
			i = valueEnd(toks, i+2)
			if i < len(toks) && toks[i].kind == tokComma {
				i++
			}
		}
		if i >= len(toks) {
			return syntaxError("EXPLAIN without a statement")
		}
		return g.checkStatement(user, role, toks[i:])
	case first.is("SET"):
		pairs := settingPairs(toks[1:])
		if len(pairs) == 0 {
			return accessDenied(user, fmt.Sprintf("SET %s is not allowed on the embedded endpoint", word(1).text))
		}
		for _, p := range pairs {
			if err := g.checkSetting(user, role, p.name, p.value); err != nil {
				return err
			}
		}
		return nil
	case first.is("INSERT"):
		if role == RoleReader {
			return readonlyError(user)
		}
		if word(2).is("FUNCTION") || word(3).is("FUNCTION") {
			return accessDenied(user, "INSERT INTO FUNCTION is not allowed on the embedded endpoint")
		}
		return nil
	case first.is("CREATE"):
		if err := needAdmin(); err != nil {
			return err
		}
		i := 1
		if word(i).is("OR") && word(i+1).is("REPLACE") {
			i += 2
		}
		if word(i).is("TEMPORARY") {
			i++
		}
		switch {
		case word(i).is("TABLE"), word(i).is("VIEW"), word(i).is("MATERIALIZED") && word(i+1).is("VIEW"):
			return nil
		case word(i).is("DATABASE"):
			return checkDatabaseEngine(user, toks[i:])
		}
		return accessDenied(user, fmt.Sprintf("CREATE %s is not allowed on the embedded endpoint", word(i).text))
	case first.is("DROP"):
		if err := needAdmin(); err != nil {
			return err
		}
		i := 1
		if word(i).is("TEMPORARY") {
			i++
		}
		if word(i).is("TABLE") || word(i).is("VIEW") || word(i).is("DATABASE") {
			return nil
		}
		return accessDenied(user, fmt.Sprintf("DROP %s is not allowed on the embedded endpoint", word(i).text))
	case first.is("ALTER"), first.is("RENAME"):
		if err := needAdmin(); err != nil {
			return err
		}
		if word(1).is("TABLE") || word(1).is("DATABASE") || (word(1).is("TEMPORARY") && word(2).is("TABLE")) {
			return nil
		}
		return accessDenied(user, fmt.Sprintf("%s %s is not allowed on the embedded endpoint", strings.ToUpper(first.text), word(1).text))
	case first.is("TRUNCATE"), first.is("EXCHANGE"), first.is("OPTIMIZE"), first.is("DELETE"),
		first.is("UPDATE"), first.is("CHECK"):
		return needAdmin()
	}
	return accessDenied(user, fmt.Sprintf("%s statements are not allowed on the embedded endpoint", strings.ToUpper(first.text)))
}

// checkDatabaseEngine allows CREATE DATABASE with the engine's own
// database engines only: Filesystem, MySQL, SQLite, ... reach outside.
func checkDatabaseEngine(user string, toks []token) error {
	for i := 0; i+2 < len(toks); i++ {
		if toks[i].is("ENGINE") && toks[i+1].kind == tokEquals {
			switch e := strings.ToLower(toks[i+2].name()); e {
			case "atomic", "memory", "ordinary":
				return nil
			default:
				return accessDenied(user, fmt.Sprintf("database engine %s is not allowed on the embedded endpoint", toks[i+2].name()))
			}
		}
	}
	return nil
}

// insertHead is an INSERT whose rows come as data (FORMAT f or VALUES),
// split where the data begins, as ClickHouse's HTTP interface reads it.
type insertHead struct {
	head   string // INSERT INTO t [(cols)], up to where FROM INFILE goes
	tail   string // SETTINGS ..., if any
	format string // the data's format (Values after VALUES)
	data   string // data that came in the query text itself
	simple bool   // head is INSERT INTO name [(names)] [SETTINGS literals]: nothing else to judge
	toks   []token
}

// splitInsert recognises an INSERT that carries data and splits it from
// the data. It returns nil for anything else (INSERT ... SELECT included).
// The data is never handed to the engine as query text: the engine's
// client would end inline data at the first newline and run what follows
// as another statement.
func splitInsert(q string) *insertHead {
	// Only the part before the data is SQL: lex up to FORMAT f or VALUES.
	var toks []token
	l := lexer{q: q}
	for {
		t, err := l.next()
		if err != nil || t.kind == 0 {
			return nil
		}
		toks = append(toks, t)
		if len(toks) == 1 && !t.is("INSERT") {
			return nil
		}
		if t.is("SELECT") || t.is("WITH") || t.kind == tokSemicolon {
			return nil // INSERT ... SELECT, or not one statement: no data to split
		}
		end := t.pos + len(t.text)
		if t.is("VALUES") {
			return buildInsert(q, toks[:len(toks)-1], "Values", q[end:])
		}
		if n := len(toks); n >= 2 && toks[n-2].is("FORMAT") && (t.kind == tokWord || t.kind == tokQuotedIdent) {
			return buildInsert(q, toks[:n-2], t.name(), dataAfterFormat(q[end:]))
		}
	}
}

// dataAfterFormat is where data begins after FORMAT f: after the first
// newline if only spaces precede it, else after the spaces.
func dataAfterFormat(s string) string {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	switch {
	case strings.HasPrefix(s[i:], "\r\n"):
		return s[i+2:]
	case strings.HasPrefix(s[i:], "\n"):
		return s[i+1:]
	}
	return strings.TrimLeft(s, " \t\r\n")
}

func buildInsert(q string, head []token, format, data string) *insertHead {
	if len(head) < 3 || !head[1].is("INTO") || !identRe.MatchString(format) {
		return nil
	}
	// Texts end at their last token: a trailing -- comment would swallow
	// what the endpoint appends.
	end := func(t token) int { return t.pos + len(t.text) }
	ins := &insertHead{format: format, data: data, toks: head, head: q[:end(head[len(head)-1])]}
	target := head
	for i, t := range head {
		if t.is("SETTINGS") {
			if i == 0 {
				return nil
			}
			ins.head = q[:end(head[i-1])]
			ins.tail = q[t.pos:end(head[len(head)-1])]
			target = head[:i]
			break
		}
	}
	ins.simple = simpleTarget(target) && simpleSettings(head[len(target):])
	return ins
}

// simpleTarget is INSERT INTO [TABLE] name[.name] [(name, ...)].
func simpleTarget(toks []token) bool {
	i := 2
	if i < len(toks) && toks[i].is("TABLE") {
		i++
	}
	isName := func(t token) bool {
		return (t.kind == tokWord && !t.is("FUNCTION")) || t.kind == tokQuotedIdent
	}
	if i >= len(toks) || !isName(toks[i]) {
		return false
	}
	i++
	if i+1 < len(toks) && toks[i].kind == tokDot && isName(toks[i+1]) {
		i += 2
	}
	if i == len(toks) {
		return true
	}
	if toks[i].kind != tokOpenParen || toks[len(toks)-1].kind != tokCloseParen {
		return false
	}
	for j, t := range toks[i+1 : len(toks)-1] {
		if (j%2 == 0 && !isName(t)) || (j%2 == 1 && t.kind != tokComma) {
			return false
		}
	}
	return true
}

// simpleSettings is empty, or SETTINGS name = literal, ... and nothing else.
func simpleSettings(toks []token) bool {
	if len(toks) == 0 {
		return true
	}
	if !toks[0].is("SETTINGS") {
		return false
	}
	i := 1
	for {
		if i+2 >= len(toks) || !(toks[i].kind == tokWord || toks[i].kind == tokQuotedIdent) || toks[i+1].kind != tokEquals {
			return false
		}
		v := i + 2
		if v < len(toks) && toks[v].kind == tokOperator && (toks[v].text == "-" || toks[v].text == "+") {
			v++
		}
		if v >= len(toks) || !(toks[v].kind == tokNumber || toks[v].kind == tokString || toks[v].kind == tokWord) {
			return false
		}
		i = v + 1
		if i == len(toks) {
			return true
		}
		if toks[i].kind != tokComma {
			return false
		}
		i++
	}
}
