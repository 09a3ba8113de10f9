// Package install puts the agent on a systemd host: the binary, a default
// config, a data folder, a dedicated user and a systemd unit; and removes
// them again. It first makes a plan (a list of steps), which is printed and,
// unless dry-run, carried out. With Root set (a staging folder, e.g. for
// packaging or tests) files are written under it and commands are only
// printed.
package install

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
)

// Options of an installation.
type Options struct {
	Root    string // "" = the real system; otherwise a folder standing for /
	DryRun  bool   // only print the plan
	User    string // default flowlens-agent
	Binary  string // the binary to install (default: this executable)
	Brokers string // written into the default config (default 127.0.0.1:9092)
	// Syslog adds a file source for /var/log/syslog and /var/log/messages
	// to a new default config, and the group adm (which may read them, and
	// every other log in /var/log) to the service. Off by default.
	Syslog bool
	// Journald adds a journald section to a new default config and the
	// group systemd-journal (which may read the whole journal) to the
	// service. Off by default.
	Journald bool
	Purge    bool // uninstall: also remove config and data
	Out      io.Writer
	Commands Runner // runs commands (default exec)
}

// Runner runs a system command.
type Runner func(name string, args ...string) error

// Paths of the installation (relative to Root).
const (
	BinPath    = "/usr/local/bin/flowlens-agent"
	ConfigDir  = "/etc/flowlens-agent"
	ConfigPath = "/etc/flowlens-agent/agent.yaml"
	DataDir    = "/var/lib/flowlens-agent"
	UnitPath   = "/etc/systemd/system/flowlens-agent.service"
)

// Step is one action of a plan.
type Step struct {
	Desc string
	Do   func() error
	// Command is set for steps that run a program: with Root, they are only printed.
	Command []string
}

func (o *Options) defaults() {
	if o.User == "" {
		o.User = "flowlens-agent"
	}
	if o.Brokers == "" {
		o.Brokers = "127.0.0.1:9092"
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Commands == nil {
		o.Commands = func(name string, args ...string) error {
			cmd := exec.Command(name, args...)
			cmd.Stdout, cmd.Stderr = o.Out, o.Out
			return cmd.Run()
		}
	}
}

func (o *Options) path(p string) string {
	if o.Root == "" {
		return p
	}
	return filepath.Join(o.Root, p)
}

var unitTemplate = template.Must(template.New("unit").Parse(`[Unit]
Description=flowlens agent: log files and OTLP to Kafka
Documentation=https://github.com/flowlens/flowlens
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={{.User}}
Group={{.User}}
{{- if .Syslog}}
# --syslog: adm may read /var/log/syslog (and every other log there)
SupplementaryGroups=adm
{{- end}}
{{- if .Journald}}
# --journald: systemd-journal may read the whole system journal
SupplementaryGroups=systemd-journal
{{- end}}
ExecStart={{.Bin}} run --config {{.Config}}
# systemctl reload: apply the edited config without losing or repeating
# data; a bad config is refused (this command fails and says why) and the
# running one kept
ExecReload={{.Bin}} reload --config {{.Config}}
# also after an exit 1 (a disk buffer that cannot fsync): it starts again
# and reads the buffer back from disk
Restart=always
RestartSec=2
# SIGTERM: stop reading, fsync the buffer, write checkpoints
KillSignal=SIGTERM
TimeoutStopSec=30
LimitNOFILE=65536
StateDirectory=flowlens-agent
StateDirectoryMode=0750
UMask=0077

# The agent reads log files, listens on loopback, writes its data folder and
# connects to Kafka: nothing else (systemd-analyze security: OK, see
# TestUnitIsHardened).
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths={{.Data}}
PrivateTmp=yes
PrivateDevices=yes
DevicePolicy=closed
PrivateMounts=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
KeyringMode=private
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
`))

var configTemplate = template.Must(template.New("config").Parse(`# flowlens agent configuration. Check it with: flowlens-agent check-config --config {{.Config}}
data_dir: {{.Data}}
log:
  level: info
# host_name: defaults to the OS host name
# service_name: default service.name for file records
# resource_attributes: {deployment.environment: production}
files:
{{- if .Syslog}}
  - name: syslog
    include: [/var/log/syslog, /var/log/messages]
    # start_at: beginning   # default; 'end' skips what is already in the files at the first start
    parse:
      format: plain          # plain, json, logfmt or regex
    service: system
{{- else}}
# The system log is read with "flowlens-agent install --syslog", which also
# lets the service read /var/log as group adm.
#  - name: syslog
#    include: [/var/log/syslog, /var/log/messages]
#    parse: {format: plain}
#    service: system
{{- end}}
#  - name: app
#    include: [/var/log/myapp/*.log]
#    parse:
#      format: json
#      fields: {timestamp: [ts], severity: [level], message: [msg]}
#    multiline: {start_pattern: '^\d{4}-\d{2}-\d{2}', flush_timeout: 1s}
{{- if .Journald}}
journald:                    # the system journal, through journalctl
  priority: info             # this and more important
  # units: [cart.service]    # empty: every unit
{{- else}}
# The system journal is read with "flowlens-agent install --journald", which
# also lets the service read it as group systemd-journal.
# journald: {priority: info}
{{- end}}
otlp:
  grpc: {listen: 127.0.0.1:4317}
  http: {listen: 127.0.0.1:4318}
buffer:
  max_size: 1GiB
  when_full: block           # or drop_oldest
kafka:
  brokers: [{{.Brokers}}]
  compression: lz4
  # sasl:
  #   mechanism: SCRAM-SHA-512
  #   username: flowlens-agent
  #   password_file: /etc/flowlens-agent/kafka-password   # 0640 root:{{.User}}, like this file
metrics:
  listen: 127.0.0.1:9464
# flowlens-agent status / reload talk to the agent over this socket (0600)
# status: {socket: {{.Data}}/agent.sock}
`))

type tmplData struct {
	User, Bin, Config, Data, Brokers string
	Syslog, Journald                 bool
}

// Install makes and carries out (or prints) the installation plan.
func Install(o Options) error {
	o.defaults()
	data := tmplData{User: o.User, Bin: BinPath, Config: ConfigPath, Data: DataDir, Brokers: o.Brokers, Syslog: o.Syslog, Journald: o.Journald}
	var unit, cfg bytes.Buffer
	if err := unitTemplate.Execute(&unit, data); err != nil {
		return err
	}
	if err := configTemplate.Execute(&cfg, data); err != nil {
		return err
	}
	bin := o.Binary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find own binary: %w", err)
		}
		bin = exe
	}
	var steps []Step
	if _, err := lookupUser(o, o.User); err != nil {
		steps = append(steps, Step{Desc: "create system user " + o.User,
			Command: []string{"useradd", "--system", "--user-group", "--no-create-home", "--home-dir", DataDir, "--shell", "/usr/sbin/nologin", o.User}})
	}
	steps = append(steps,
		Step{Desc: "install binary " + o.path(BinPath), Do: func() error { return copyFile(bin, o.path(BinPath), 0o755) }},
		Step{Desc: "create config folder " + o.path(ConfigDir), Do: func() error { return os.MkdirAll(o.path(ConfigDir), 0o755) }},
	)
	if _, err := os.Stat(o.path(ConfigPath)); err == nil {
		steps = append(steps, Step{Desc: "keep existing config " + o.path(ConfigPath), Do: func() error { return nil }})
	} else {
		steps = append(steps, Step{Desc: "write default config " + o.path(ConfigPath), Do: func() error {
			return os.WriteFile(o.path(ConfigPath), cfg.Bytes(), 0o640)
		}})
	}
	// The config may hold the Kafka password: readable by root and the
	// service only, an existing one too.
	steps = append(steps,
		Step{Desc: "make the config readable by root and " + o.User + " only (0640)", Do: func() error {
			return os.Chmod(o.path(ConfigPath), 0o640)
		}},
		Step{Desc: "give the config to root:" + o.User, Command: []string{"chown", "root:" + o.User, ConfigPath}},
	)
	steps = append(steps,
		Step{Desc: "create data folder " + o.path(DataDir), Do: func() error { return os.MkdirAll(o.path(DataDir), 0o750) }},
		Step{Desc: "give the data folder to " + o.User, Command: []string{"chown", "-R", o.User + ":" + o.User, DataDir}},
		Step{Desc: "write systemd unit " + o.path(UnitPath), Do: func() error {
			if err := os.MkdirAll(filepath.Dir(o.path(UnitPath)), 0o755); err != nil {
				return err
			}
			return os.WriteFile(o.path(UnitPath), unit.Bytes(), 0o644)
		}},
		Step{Desc: "reload systemd", Command: []string{"systemctl", "daemon-reload"}},
		Step{Desc: "enable and start the service", Command: []string{"systemctl", "enable", "--now", "flowlens-agent.service"}},
	)
	return run(o, "install", steps)
}

// Uninstall stops the service and removes what Install wrote (config and
// data only with Purge).
func Uninstall(o Options) error {
	o.defaults()
	steps := []Step{
		{Desc: "stop and disable the service", Command: []string{"systemctl", "disable", "--now", "flowlens-agent.service"}},
		{Desc: "remove systemd unit " + o.path(UnitPath), Do: func() error { return removeIfExists(o.path(UnitPath)) }},
		{Desc: "reload systemd", Command: []string{"systemctl", "daemon-reload"}},
		{Desc: "remove binary " + o.path(BinPath), Do: func() error { return removeIfExists(o.path(BinPath)) }},
	}
	if o.Purge {
		steps = append(steps,
			Step{Desc: "remove config " + o.path(ConfigDir), Do: func() error { return os.RemoveAll(o.path(ConfigDir)) }},
			Step{Desc: "remove data (buffer, checkpoints) " + o.path(DataDir), Do: func() error { return os.RemoveAll(o.path(DataDir)) }},
			Step{Desc: "remove user " + o.User, Command: []string{"userdel", o.User}},
		)
	} else {
		steps = append(steps, Step{Desc: "keep config " + o.path(ConfigDir) + " and data " + o.path(DataDir) + " (use --purge to remove them)", Do: func() error { return nil }})
	}
	return run(o, "uninstall", steps)
}

// run prints the plan of action (install or uninstall) and carries it out.
func run(o Options, action string, steps []Step) error {
	mode := ""
	switch {
	case o.DryRun:
		mode = " (dry run: nothing is changed)"
	case o.Root != "":
		mode = " (into " + o.Root + ": files are written, commands only printed)"
	}
	fmt.Fprintf(o.Out, "flowlens-agent %s plan%s:\n", action, mode)
	for i, s := range steps {
		if s.Command != nil {
			cmdline := strings.Join(s.Command, " ")
			if o.DryRun || o.Root != "" {
				fmt.Fprintf(o.Out, "%2d. %s: would run `%s`\n", i+1, s.Desc, cmdline)
				continue
			}
			fmt.Fprintf(o.Out, "%2d. %s: `%s`\n", i+1, s.Desc, cmdline)
			if err := o.Commands(s.Command[0], s.Command[1:]...); err != nil {
				return fmt.Errorf("%s: %w", s.Desc, err)
			}
			continue
		}
		if o.DryRun {
			fmt.Fprintf(o.Out, "%2d. would %s\n", i+1, s.Desc)
			continue
		}
		fmt.Fprintf(o.Out, "%2d. %s\n", i+1, s.Desc)
		if err := s.Do(); err != nil {
			return fmt.Errorf("%s: %w", s.Desc, err)
		}
	}
	return nil
}

func lookupUser(o Options, name string) (bool, error) {
	passwd := o.path("/etc/passwd")
	data, err := os.ReadFile(passwd)
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, name+":") {
			return true, nil
		}
	}
	return false, errors.New("no such user")
}

func copyFile(src, dst string, mode fs.FileMode) error {
	if same, _ := filepath.Abs(src); same == dst {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := dst + ".new"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst) // atomic even while the old binary runs
}

func removeIfExists(p string) error {
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// PackageBinPath is where a .deb installs the binary (packages own /usr,
// never /usr/local).
const PackageBinPath = "/usr/bin/flowlens-agent"

// PackageFiles are the unit and the default config of a package that
// installs the binary at bin (`make deb`): the same as Install writes.
func PackageFiles(bin string) (unit, cfg []byte, err error) {
	o := Options{}
	o.defaults()
	data := tmplData{User: o.User, Bin: bin, Config: ConfigPath, Data: DataDir, Brokers: o.Brokers}
	var u, c bytes.Buffer
	if err := unitTemplate.Execute(&u, data); err != nil {
		return nil, nil, err
	}
	if err := configTemplate.Execute(&c, data); err != nil {
		return nil, nil, err
	}
	return u.Bytes(), c.Bytes(), nil
}
