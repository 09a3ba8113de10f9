// Package container decodes the log files of container runtimes: the CRI
// format kubelet writes under /var/log/pods (`<time> <stream> <P|F>
// <message>`, a long line split into partial P pieces ended by an F one)
// and Docker's json-file (`{"log":"...\n","stream":"stdout","time":"..."}`,
// split every 16 KiB into pieces without the final newline); and tells the
// pod, namespace and container from a log file's path.
package container

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Line is one decoded runtime line. Message points into the input line or
// into the decoder's memory: valid until the next Decode.
type Line struct {
	Time    time.Time
	Stream  string // stdout or stderr
	Partial bool   // the message goes on in the next line
	Message []byte
}

// ErrFormat is the error of a line in neither format.
var ErrFormat = errors.New("neither a CRI nor a Docker json-file log line")

// Decoder decodes runtime lines, reusing its memory.
type Decoder struct {
	docker dockerLine
	buf    []byte
}

type dockerLine struct {
	Log    string `json:"log"`
	Stream string `json:"stream"`
	Time   string `json:"time"`
}

// Decode reads one line (without its newline) of either format.
func (d *Decoder) Decode(line []byte, out *Line) error {
	if len(line) > 0 && line[0] == '{' {
		return d.decodeDocker(line, out)
	}
	return decodeCRI(line, out)
}

// decodeCRI: `2024-01-02T15:04:05.999999999Z stdout F message`.
func decodeCRI(line []byte, out *Line) error {
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return ErrFormat
	}
	t, err := time.Parse(time.RFC3339Nano, string(line[:sp]))
	if err != nil {
		return ErrFormat
	}
	rest := line[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp < 0 {
		return ErrFormat
	}
	stream := rest[:sp]
	switch string(stream) {
	case "stdout":
		out.Stream = "stdout"
	case "stderr":
		out.Stream = "stderr"
	default:
		return ErrFormat
	}
	rest = rest[sp+1:]
	// the tag: P or F, possibly followed by more ':'-separated flags
	tagEnd := bytes.IndexByte(rest, ' ')
	tag := rest
	msg := []byte{}
	if tagEnd >= 0 {
		tag, msg = rest[:tagEnd], rest[tagEnd+1:]
	}
	if i := bytes.IndexByte(tag, ':'); i >= 0 {
		tag = tag[:i]
	}
	switch string(tag) {
	case "P":
		out.Partial = true
	case "F":
		out.Partial = false
	default:
		return ErrFormat
	}
	out.Time = t
	out.Message = msg
	return nil
}

func (d *Decoder) decodeDocker(line []byte, out *Line) error {
	if msg, stream, ts, ok := d.decodeDockerFast(line); ok {
		t, err := time.Parse(time.RFC3339Nano, string(ts))
		if err != nil {
			return ErrFormat
		}
		out.Partial = !bytes.HasSuffix(msg, []byte("\n"))
		out.Time, out.Stream, out.Message = t, stream, bytes.TrimSuffix(msg, []byte("\n"))
		return nil
	}
	d.docker = dockerLine{}
	if err := json.Unmarshal(line, &d.docker); err != nil {
		return ErrFormat
	}
	if d.docker.Stream != "stdout" && d.docker.Stream != "stderr" {
		return ErrFormat
	}
	t, err := time.Parse(time.RFC3339Nano, d.docker.Time)
	if err != nil {
		return ErrFormat
	}
	msg := d.docker.Log
	out.Partial = !strings.HasSuffix(msg, "\n")
	msg = strings.TrimSuffix(msg, "\n")
	out.Time, out.Stream, out.Message = t, d.docker.Stream, []byte(msg)
	return nil
}

// Meta is what a log file's path tells about its container.
type Meta struct {
	Namespace, Pod, PodUID, Container, ContainerID string
	// RestartCount is the container's restart count (-1: unknown).
	RestartCount int
}

// Attributes are meta as OpenTelemetry resource attributes (k8s.*,
// container.id), the known ones only.
func (m Meta) Attributes() map[string]string {
	a := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			a[k] = v
		}
	}
	set("k8s.namespace.name", m.Namespace)
	set("k8s.pod.name", m.Pod)
	set("k8s.pod.uid", m.PodUID)
	set("k8s.container.name", m.Container)
	set("container.id", m.ContainerID)
	if m.RestartCount >= 0 {
		a["k8s.container.restart_count"] = strconv.Itoa(m.RestartCount)
	}
	return a
}

// PathMeta reads a log file's path in the three layouts:
//
//	/var/log/pods/<namespace>_<pod>_<pod uid>/<container>/<restart count>.log
//	/var/log/containers/<pod>_<namespace>_<container>-<container id>.log
//	/var/lib/docker/containers/<container id>/<container id>-json.log
//
// (the folders may be anywhere: only the last parts count). ok is false
// when the path is in none of them.
func PathMeta(path string) (m Meta, ok bool) {
	m.RestartCount = -1
	base := filepath.Base(path)
	dir := filepath.Dir(path)
	// Docker json-file
	if id, found := strings.CutSuffix(base, "-json.log"); found && id == filepath.Base(dir) && id != "" {
		m.ContainerID = id
		return m, true
	}
	// /var/log/pods: <ns>_<pod>_<uid>/<container>/<n>.log (also rotated: <n>.log.<date>)
	if name, _, found := strings.Cut(base, ".log"); found {
		if n, err := strconv.Atoi(name); err == nil {
			podDir := filepath.Base(filepath.Dir(dir))
			parts := strings.Split(podDir, "_")
			if len(parts) == 3 && parts[0] != "" && parts[1] != "" {
				m.Namespace, m.Pod, m.PodUID = parts[0], parts[1], parts[2]
				m.Container = filepath.Base(dir)
				m.RestartCount = n
				return m, true
			}
		}
	}
	// /var/log/containers: <pod>_<ns>_<container>-<64 hex>.log
	if name, found := strings.CutSuffix(base, ".log"); found {
		parts := strings.Split(name, "_")
		if len(parts) == 3 {
			c := parts[2]
			if i := strings.LastIndexByte(c, '-'); i > 0 && len(c)-i-1 == 64 {
				m.Pod, m.Namespace, m.Container, m.ContainerID = parts[0], parts[1], c[:i], c[i+1:]
				return m, true
			}
		}
	}
	return m, false
}
