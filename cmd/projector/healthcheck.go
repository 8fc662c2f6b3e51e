package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"latticestate/internal/cli"
)

func newHealthcheckCmd() *cobra.Command {
	var (
		addr    string
		path    string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Probe a running `projector serve` over HTTP (for container health checks)",
		Long: `healthcheck GETs /healthz (or --path, e.g. /readyz) from the projector serving
on --http and exits 0 on 200, 1 otherwise, printing the answer. It needs no shell
or curl, so a container image with nothing but the binary can check itself:

  healthcheck: {test: ["CMD", "/usr/local/bin/projector", "healthcheck"]}

--http takes the same value as serve's (and LATTICESTATE_HTTP sets both); an
unspecified host such as 0.0.0.0 or :8080 is probed on the loopback address.`,
		Example: `  projector healthcheck
  projector healthcheck --http 127.0.0.1:8080 --path /readyz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			url, err := probeURL(addr, path)
			if err != nil {
				return cli.Exit(2, err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			code, body, err := probe(ctx, url)
			if err != nil {
				return cli.Exit(1, fmt.Errorf("%s: %w", url, err))
			}
			if code != http.StatusOK {
				return cli.Exit(1, fmt.Errorf("%s: %d %s", url, code, strings.TrimSpace(body)))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d %s\n", url, code, strings.TrimSpace(body))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "http", "127.0.0.1:8080", "HTTP address that serve listens on")
	f.StringVar(&path, "path", "/healthz", "path to probe: /healthz (connected, streams in place) or /readyz (caught up)")
	f.DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return cmd
}

// probeURL is the URL of path on the server listening on addr, with an
// unspecified host replaced by the loopback address.
func probeURL(addr, path string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--http %q: %w", addr, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	if !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("--path %q: must start with /", path)
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}

func probe(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(body), err
}
