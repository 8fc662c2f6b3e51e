package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"latticestate/internal/natstest"
)

// composeFile is the subset of the compose specification the dev stack
// uses.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string                       `yaml:"image"`
	Build       string                       `yaml:"build"`
	Entrypoint  []string                     `yaml:"entrypoint"`
	Command     []string                     `yaml:"command"`
	Environment map[string]string            `yaml:"environment"`
	Ports       []string                     `yaml:"ports"`
	Volumes     []string                     `yaml:"volumes"`
	DependsOn   map[string]map[string]string `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

func mustCompose(tb testing.TB) composeFile {
	tb.Helper()
	b, err := os.ReadFile("../docker-compose.yml")
	require.NoError(tb, err)
	var c composeFile
	require.NoError(tb, yaml.Unmarshal(b, &c))
	return c
}

// TestDevStack_Compose checks docker-compose.yml against what it runs: the
// accounts configuration the permission tests load, the binaries' flags,
// the image the Dockerfile builds, the ports and the health checks.
func TestDevStack_Compose(t *testing.T) {
	c := mustCompose(t)
	require.ElementsMatch(t, []string{"nats", "projector", "emitter", "nats-box"}, keysOf(c.Services))
	conf, err := server.ProcessConfigFile(natsConfig)
	require.NoError(t, err)

	t.Run("nats", func(t *testing.T) {
		nats := c.Services["nats"]
		// The scratch image has no shell or wget to run a health check with.
		require.Regexp(t, `^nats:2\.\d+-alpine$`, nats.Image)
		require.Equal(t, []string{"nats-server", "--config", "/etc/nats/nats.conf", "--jetstream"}, nats.Command)
		var confMount string
		for _, v := range nats.Volumes {
			host, target, _ := strings.Cut(v, ":")
			if strings.HasPrefix(target, "/etc/nats/nats.conf") {
				confMount = host
				require.True(t, strings.HasSuffix(v, ":ro"), "config mounted read-only")
			}
			if target == conf.StoreDir {
				require.Contains(t, c.Volumes, host, "JetStream data on a named volume")
			}
		}
		want, err := filepath.Abs(natsConfig)
		require.NoError(t, err)
		got, err := filepath.Abs(filepath.Join("..", confMount))
		require.NoError(t, err)
		require.Equal(t, want, got, "the server runs the configuration the permission tests load")
		require.Contains(t, nats.Volumes, "nats-data:"+conf.StoreDir, "the store_dir of the configuration is the volume")
		require.Equal(t, []string{portPair(conf.Port)}, nats.Ports, "monitoring is not published")
		require.Equal(t, "127.0.0.1", conf.HTTPHost)
		require.NotNil(t, nats.Healthcheck)
		require.Equal(t, []string{"CMD", "wget", "-q", "-O", "/dev/null",
			"http://127.0.0.1:" + itoa(conf.HTTPPort) + "/healthz?js-enabled-only=true"}, nats.Healthcheck.Test)
	})

	t.Run("projector", func(t *testing.T) {
		p := c.Services["projector"]
		require.Equal(t, ".", p.Build)
		require.Equal(t, "serve", p.Command[0])
		requireFlag(t, p.Command, "--nats-url", "nats://nats:"+itoa(conf.Port))
		requireFlag(t, p.Command, "--user", "projector")
		requireFlag(t, p.Command, "--http", "0.0.0.0:8080")
		_, password := configUser(t, "projector")
		require.Equal(t, password, p.Environment["LATTICESTATE_PASSWORD"])
		require.Equal(t, inboxPrefix(t, "projector"), p.Environment["LATTICESTATE_INBOX_PREFIX"])
		require.Equal(t, []string{"8080:8080"}, p.Ports)
		require.Equal(t, "service_healthy", p.DependsOn["nats"]["condition"])
		require.NotNil(t, p.Healthcheck)
		require.Equal(t, []string{"CMD", "/usr/local/bin/projector", "healthcheck", "--http", "127.0.0.1:8080"}, p.Healthcheck.Test)
		requireFlagsParse(t, projectorBin, p.Command)
		requireFlagsParse(t, projectorBin, p.Healthcheck.Test[2:])
	})

	t.Run("emitter", func(t *testing.T) {
		e := c.Services["emitter"]
		require.Equal(t, ".", e.Build)
		require.Equal(t, []string{"/usr/local/bin/emitter"}, e.Entrypoint)
		requireFlag(t, e.Command, "--nats-url", "nats://nats:"+itoa(conf.Port))
		requireFlag(t, e.Command, "--user", "emitter")
		_, password := configUser(t, "emitter")
		require.Equal(t, password, e.Environment["LATTICESTATE_PASSWORD"])
		require.NotContains(t, e.Environment, "LATTICESTATE_INBOX_PREFIX", "hosts keep the default inbox")
		require.Equal(t, "service_healthy", e.DependsOn["projector"]["condition"], "hosts start once the stream exists")
		requireFlagsParse(t, emitterBin, e.Command)
	})

	t.Run("nats-box", func(t *testing.T) {
		b := c.Services["nats-box"]
		require.Regexp(t, `^natsio/nats-box(:|$)`, b.Image)
		require.Equal(t, []string{"/bin/sh", "-c"}, b.Entrypoint)
		require.Len(t, b.Command, 1)
		_, password := configUser(t, "reader")
		require.Contains(t, b.Command[0], "nats context save reader --server nats://nats:"+itoa(conf.Port)+" --user reader --password "+password)
		require.Contains(t, b.Command[0], "--inbox-prefix "+inboxPrefix(t, "reader"))
		require.Contains(t, b.Command[0], "--select")
		require.Equal(t, "service_healthy", b.DependsOn["nats"]["condition"])
	})

	t.Run("Dockerfile", func(t *testing.T) {
		b, err := os.ReadFile("../Dockerfile")
		require.NoError(t, err)
		d := string(b)
		gomod, err := os.ReadFile("../go.mod")
		require.NoError(t, err)
		goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gomod))
		require.NotNil(t, goVersion)
		require.Contains(t, d, "FROM golang:"+goVersion[1]+" AS build", "the builder has the go.mod's Go")
		require.Contains(t, d, "CGO_ENABLED=0 go build")
		require.Contains(t, d, "./cmd/projector ./cmd/emitter")
		require.Contains(t, d, "FROM gcr.io/distroless/static-debian12:nonroot")
		require.Contains(t, d, "COPY --from=build /out/projector /out/emitter /usr/local/bin/")
		require.Regexp(t, `(?m)^USER 65532:65532$`, d)
		require.Contains(t, d, `ENTRYPOINT ["/usr/local/bin/projector"]`)
	})
}

// requireFlag asserts args hold flag followed by value.
func requireFlag(tb testing.TB, args []string, flag, value string) {
	tb.Helper()
	i := slices.Index(args, flag)
	require.True(tb, i >= 0 && i+1 < len(args), "%s in %v", flag, args)
	require.Equal(tb, value, args[i+1], flag)
}

// requireFlagsParse runs bin with args and --help: cobra rejects unknown
// flags and bad values before it prints the help.
func requireFlagsParse(tb testing.TB, bin string, args []string) {
	tb.Helper()
	out, err := exec.Command(bin, append(slices.Clone(args), "--help")...).CombinedOutput()
	require.NoError(tb, err, "%s %v: %s", filepath.Base(bin), args, out)
}

func portPair(p int) string { return itoa(p) + ":" + itoa(p) }

func itoa(n int) string { return strconv.Itoa(n) }

// TestHealthcheck_Serve: `projector healthcheck`, the compose health check,
// passes against a serving projector and fails once it is gone.
func TestHealthcheck_Serve(t *testing.T) {
	s := natstest.MustRunServer(t)
	p := mustStartProjector(t, s.ClientURL())
	addr := strings.TrimPrefix(p.addr, "http://")
	var out []byte
	natstest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		var err error
		out, err = exec.Command(projectorBin, "healthcheck", "--http", addr).CombinedOutput()
		return err
	})
	require.Contains(t, string(out), "/healthz: 200")
	out, err := exec.Command(projectorBin, "healthcheck", "--http", addr, "--path", "/readyz").CombinedOutput()
	require.NoError(t, err, "%s", out)
	p.stop(t)
	cmd := exec.Command(projectorBin, "healthcheck", "--http", addr)
	out, err = cmd.CombinedOutput()
	require.Error(t, err, "%s", out)
	require.Equal(t, 1, cmd.ProcessState.ExitCode())
	require.Contains(t, string(out), "connection refused")
}
