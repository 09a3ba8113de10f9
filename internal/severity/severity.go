// Package severity is the one table of log severities: the numbers of the
// OpenTelemetry log data model, the level words people write (any case,
// short forms) and the level a number belongs to. The agent reads words
// into numbers with it, storage searches by level with it and the CLI
// prints levels with it, so the three agree on what, say, CRITICAL is.
package severity

import "strings"

// The lowest number of each level (OpenTelemetry log data model).
const (
	Trace = 1
	Debug = 5
	Info  = 9
	Warn  = 13
	Error = 17
	Fatal = 21
)

// Level is a severity level: its name, its lowest number and the words
// (lower case) that mean it.
type Level struct {
	Name   string
	Number int32
	Words  []string
}

// Levels, from the lowest.
var Levels = []Level{
	{"TRACE", Trace, []string{"trace", "trc", "finest", "finer"}},
	{"DEBUG", Debug, []string{"debug", "dbg", "d", "fine", "verbose"}},
	{"INFO", Info, []string{"info", "inf", "i", "information", "informational", "notice"}},
	{"WARN", Warn, []string{"warn", "warning", "wrn", "w"}},
	{"ERROR", Error, []string{"error", "err", "e", "severe"}},
	{"FATAL", Fatal, []string{"fatal", "crit", "critical", "alert", "emerg", "emergency", "panic", "f"}},
}

// maxWord is the length of the longest word in Levels.
const maxWord = 13

// byWord maps every word of Levels to its level's number.
var byWord = func() map[string]int32 {
	m := map[string]int32{}
	for _, l := range Levels {
		for _, w := range l.Words {
			m[w] = l.Number
		}
	}
	return m
}()

// FromText is the number of a level word in any case ("ERROR", "warning",
// "Crit"); 0 when it is none. It does not allocate: the agent calls it for
// every line.
func FromText(s []byte) int32 {
	if len(s) == 0 || len(s) > maxWord {
		return 0
	}
	var low [maxWord]byte
	for i, c := range s {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	return byWord[string(low[:len(s)])]
}

// Name is the name of the level n belongs to ("WARN" for 13 to 16); "" for
// 0, which means unset.
func Name(n int32) string {
	if n <= 0 {
		return ""
	}
	name := Levels[0].Name
	for _, l := range Levels {
		if n >= l.Number {
			name = l.Name
		}
	}
	return name
}

// Parse finds the level named by s, a level name or one of its words in
// any case ("warn", "WARNING", "crit").
func Parse(s string) (Level, bool) {
	n := FromText([]byte(strings.TrimSpace(s)))
	for _, l := range Levels {
		if l.Number == n {
			return l, true
		}
	}
	return Level{}, false
}

// syslogNumbers are the numbers of the syslog severities (RFC 5424
// 0 emerg .. 7 debug; the journal's PRIORITY), their words as above.
var syslogNumbers = [8]int32{Fatal + 3, Fatal + 2, Fatal, Error, Warn, Info + 1, Info, Debug}

// SyslogNames are the syslog severities' keywords, by number.
var SyslogNames = [8]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// FromSyslog maps a syslog severity (0-7) to its number and keyword;
// ok is false outside 0-7.
func FromSyslog(p int) (number int32, text string, ok bool) {
	if p < 0 || p > 7 {
		return 0, "", false
	}
	return syslogNumbers[p], SyslogNames[p], true
}
