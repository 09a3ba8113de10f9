package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"
)

// StatusSocketOf finds the status socket named by a config file. It reads
// only data_dir and status.socket, so that `flowlens-agent reload` reaches
// the agent (which says what is wrong) even when the edited file does not
// validate.
func StatusSocketOf(cfgPath string) (string, error) {
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return "", fmt.Errorf("read config: %w", err)
	}
	var c struct {
		DataDir string `yaml:"data_dir"`
		Status  struct {
			Socket string `yaml:"socket"`
		} `yaml:"status"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		return "", fmt.Errorf("config %s: %w", cfgPath, err)
	}
	cfg := Config{DataDir: c.DataDir, Status: StatusConfig{Socket: c.Status.Socket}}
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	sock := cfg.StatusSocket()
	if sock == "off" {
		return "", fmt.Errorf("config %s: status.socket is off", cfgPath)
	}
	return filepath.Clean(sock), nil
}

// AgentError is what the running agent answered: for Reload, why it
// refused the new config (it runs on with the old one).
type AgentError struct{ Message string }

func (e *AgentError) Error() string { return e.Message }

// ControlClient talks to a running agent over its status socket.
type ControlClient struct {
	socket string
	http   *http.Client
}

// NewControlClient is a client of the agent listening on socket.
func NewControlClient(socket string) *ControlClient {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	// a reload waits for the running agent to hand over what it read
	return &ControlClient{socket: socket, http: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

// Status asks the agent what it is doing.
func (c *ControlClient) Status(ctx context.Context) (Status, error) {
	var st Status
	body, err := c.do(ctx, http.MethodGet, "/status")
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("agent status: %w", err)
	}
	return st, nil
}

// Reload makes the agent apply its config file again; the error is the
// agent's reason when it refused the new config.
func (c *ControlClient) Reload(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodPost, "/reload")
	return err
}

func (c *ControlClient) do(ctx context.Context, method, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://agent"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) {
			return nil, fmt.Errorf("no agent answers on %s (is it running? is this its config?): %w", c.socket, err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, &AgentError{Message: e.Error}
		}
		return nil, fmt.Errorf("agent answered %s: %s", resp.Status, body)
	}
	return body, nil
}
