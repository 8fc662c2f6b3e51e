package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	composecli "github.com/compose-spec/compose-go/v2/cli"
	composetypes "github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"latticestate/internal/natstest"
)

// composeProject loads docker-compose.yml as Docker Compose v2 does, with
// the compose-spec loader and without a Docker daemon: schema validation,
// interpolation (from an empty environment), normalization and the
// consistency checks; relative host paths come back absolute.
func composeProject(tb testing.TB) *composetypes.Project {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts, err := composecli.NewProjectOptions([]string{"../docker-compose.yml"},
		composecli.WithWorkingDirectory(".."), composecli.WithName("latticestate"))
	require.NoError(tb, err)
	p, err := opts.LoadProject(ctx)
	require.NoError(tb, err, "docker-compose.yml")
	return p
}

// repoRoot is the absolute path of the repository.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := filepath.Abs("..")
	require.NoError(tb, err)
	return root
}

// TestDevStack_Compose checks docker-compose.yml against what it runs: the
// accounts configuration the permission tests load, the binaries' flags,
// the image the Dockerfile builds, pinned images, the ports, volumes and
// health checks.
func TestDevStack_Compose(t *testing.T) {
	c := composeProject(t)
	require.ElementsMatch(t, []string{"nats", "projector", "emitter", "nats-box"}, c.ServiceNames())
	conf, err := server.ProcessConfigFile(natsConfig)
	require.NoError(t, err)
	root := repoRoot(t)

	t.Run("images pinned", func(t *testing.T) {
		for _, s := range c.Services {
			if s.Build != nil {
				require.Equal(t, root, s.Build.Context, "%s builds the repository", s.Name)
				require.Empty(t, s.Image, "%s: built here, not pulled", s.Name)
				continue
			}
			require.Regexp(t, `^[a-z0-9./-]+:\d+\.\d+\.\d+(-[a-z0-9]+)?$`, s.Image,
				"%s: image pinned to a full version", s.Name)
		}
	})

	t.Run("volumes", func(t *testing.T) {
		for _, s := range c.Services {
			for _, v := range s.Volumes {
				switch v.Type {
				case composetypes.VolumeTypeBind:
					rel, err := filepath.Rel(root, v.Source)
					require.NoError(t, err)
					require.False(t, rel == ".." || strings.HasPrefix(rel, "../"),
						"%s mounts %s, outside the repository", s.Name, v.Source)
					_, err = os.Stat(v.Source)
					require.NoError(t, err, "%s mounts %s, which the repository must hold", s.Name, rel)
					require.True(t, v.ReadOnly, "%s: the repository's %s mounted read-only", s.Name, rel)
				case composetypes.VolumeTypeVolume:
					require.Contains(t, c.Volumes, v.Source, "%s: volume %s declared", s.Name, v.Source)
				default:
					t.Errorf("%s: volume of type %s", s.Name, v.Type)
				}
			}
		}
	})

	t.Run("health checks", func(t *testing.T) {
		// Every service another waits for as healthy has a health check
		// that runs a binary of its image, not a shell line.
		for _, s := range c.Services {
			for dep, d := range s.DependsOn {
				require.Contains(t, c.Services, dep, "%s depends on %s", s.Name, dep)
				require.Equal(t, composetypes.ServiceConditionHealthy, d.Condition, "%s waits for %s", s.Name, dep)
				hc := c.Services[dep].HealthCheck
				require.NotNil(t, hc, "%s waits for %s to be healthy, which has no health check", s.Name, dep)
				require.False(t, hc.Disable)
				require.Equal(t, "CMD", hc.Test[0], "%s health check", dep)
				require.NotNil(t, hc.Interval)
				require.NotNil(t, hc.Retries)
			}
		}
	})

	t.Run("nats", func(t *testing.T) {
		nats := c.Services["nats"]
		// The server the projector embeds and the tests run, in its alpine
		// variant: the scratch one has no shell or wget for a health check.
		require.Equal(t, "nats:"+server.VERSION+"-alpine", nats.Image)
		require.Equal(t, composetypes.ShellCommand{"nats-server", "--config", "/etc/nats/nats.conf", "--jetstream"}, nats.Command)
		confMount := composeMount(t, nats, "/etc/nats/nats.conf")
		require.Equal(t, composetypes.VolumeTypeBind, confMount.Type)
		want, err := filepath.Abs(natsConfig)
		require.NoError(t, err)
		require.Equal(t, want, confMount.Source, "the server runs the configuration the permission tests load")
		data := composeMount(t, nats, conf.StoreDir)
		require.Equal(t, composetypes.VolumeTypeVolume, data.Type, "JetStream data on a named volume")
		require.Equal(t, "nats-data", data.Source)
		var ports []string
		for _, p := range nats.Ports {
			ports = append(ports, p.Published+":"+itoa(int(p.Target)))
		}
		require.Equal(t, []string{portPair(conf.Port)}, ports, "monitoring is not published")
		require.Equal(t, "127.0.0.1", conf.HTTPHost)
		require.NotNil(t, nats.HealthCheck)
		require.Equal(t, composetypes.HealthCheckTest{"CMD", "wget", "-q", "-O", "/dev/null",
			"http://127.0.0.1:" + itoa(conf.HTTPPort) + "/healthz?js-enabled-only=true"}, nats.HealthCheck.Test)
	})

	t.Run("projector", func(t *testing.T) {
		p := c.Services["projector"]
		require.NotNil(t, p.Build)
		require.Equal(t, "serve", p.Command[0])
		requireFlag(t, p.Command, "--nats-url", "nats://nats:"+itoa(conf.Port))
		requireFlag(t, p.Command, "--user", "projector")
		requireFlag(t, p.Command, "--http", "0.0.0.0:8080")
		_, password := configUser(t, "projector")
		require.Equal(t, password, composeEnv(t, p, "LATTICESTATE_PASSWORD"))
		require.Equal(t, inboxPrefix(t, "projector"), composeEnv(t, p, "LATTICESTATE_INBOX_PREFIX"))
		require.Len(t, p.Ports, 1)
		require.Equal(t, "8080", p.Ports[0].Published)
		require.EqualValues(t, 8080, p.Ports[0].Target)
		require.Equal(t, composetypes.ServiceConditionHealthy, p.DependsOn["nats"].Condition)
		require.NotNil(t, p.HealthCheck)
		require.Equal(t, composetypes.HealthCheckTest{"CMD", "/usr/local/bin/projector", "healthcheck", "--http", "127.0.0.1:8080"}, p.HealthCheck.Test)
		requireFlagsParse(t, projectorBin, p.Command)
		requireFlagsParse(t, projectorBin, p.HealthCheck.Test[2:])
	})

	t.Run("emitter", func(t *testing.T) {
		e := c.Services["emitter"]
		require.NotNil(t, e.Build)
		require.Equal(t, composetypes.ShellCommand{"/usr/local/bin/emitter"}, e.Entrypoint)
		requireFlag(t, e.Command, "--nats-url", "nats://nats:"+itoa(conf.Port))
		requireFlag(t, e.Command, "--user", "emitter")
		_, password := configUser(t, "emitter")
		require.Equal(t, password, composeEnv(t, e, "LATTICESTATE_PASSWORD"))
		_, custom := e.Environment["LATTICESTATE_INBOX_PREFIX"]
		require.False(t, custom, "hosts keep the default inbox")
		require.Equal(t, composetypes.ServiceConditionHealthy, e.DependsOn["projector"].Condition, "hosts start once the stream exists")
		requireFlagsParse(t, emitterBin, e.Command)
	})

	t.Run("nats-box", func(t *testing.T) {
		b := c.Services["nats-box"]
		require.Regexp(t, `^natsio/nats-box:`, b.Image)
		require.Equal(t, composetypes.ShellCommand{"/bin/sh", "-c"}, b.Entrypoint)
		require.Len(t, b.Command, 1)
		_, password := configUser(t, "reader")
		require.Contains(t, b.Command[0], "nats context save reader --server nats://nats:"+itoa(conf.Port)+" --user reader --password "+password)
		require.Contains(t, b.Command[0], "--inbox-prefix "+inboxPrefix(t, "reader"))
		require.Contains(t, b.Command[0], "--select")
		require.Equal(t, composetypes.ServiceConditionHealthy, b.DependsOn["nats"].Condition)
	})

	t.Run("Dockerfile", func(t *testing.T) {
		b, err := os.ReadFile("../Dockerfile")
		require.NoError(t, err)
		d := string(b)
		gomod, err := os.ReadFile("../go.mod")
		require.NoError(t, err)
		goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+\.\d+)$`).FindStringSubmatch(string(gomod))
		require.NotNil(t, goVersion)
		stages := dockerStages(t, d)
		require.Len(t, stages, 2, "a build stage and the runtime")
		require.Regexp(t, `^golang:`+regexp.QuoteMeta(goVersion[1])+`-[a-z]+$`, stages[0].image,
			"the builder has the go.mod's Go, pinned with its Debian release")
		require.Equal(t, "build", stages[0].name)
		require.Contains(t, d, "CGO_ENABLED=0 go build")
		require.Contains(t, d, "./cmd/projector ./cmd/emitter")
		// The runtime is empty but for what the build stage copies in:
		// the binaries, CA certificates, the user and a home it owns.
		require.Equal(t, "scratch", stages[1].image)
		require.Contains(t, d, "COPY --from=build /out/projector /out/emitter /usr/local/bin/")
		require.Contains(t, d, "/etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/")
		require.Contains(t, d, "nonroot:x:65532:65532:nonroot:/home/nonroot:")
		require.Contains(t, d, "COPY --from=build /rootfs/ /")
		require.Contains(t, d, "COPY --from=build --chown=65532:65532 /home/nonroot/ /home/nonroot/")
		require.Regexp(t, `(?m)^WORKDIR /home/nonroot$`, d)
		require.Regexp(t, `(?m)^USER 65532:65532$`, d)
		require.Contains(t, d, `ENTRYPOINT ["/usr/local/bin/projector"]`)
	})

	t.Run("Dockerfile images pinned", func(t *testing.T) {
		// Every Dockerfile in the repository: a base image is a stage of
		// its own, scratch, or pinned to a full version or a digest.
		var files []string
		require.NoError(t, filepath.WalkDir(root, func(path string, e os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() && e.Name() == ".git" {
				return filepath.SkipDir
			}
			if n := e.Name(); !e.IsDir() && (n == "Dockerfile" || strings.HasPrefix(n, "Dockerfile.") || strings.HasSuffix(n, ".Dockerfile")) {
				files = append(files, path)
			}
			return nil
		}))
		require.NotEmpty(t, files)
		pinned := regexp.MustCompile(`^[a-z0-9._/-]+(:\d+\.\d+\.\d+(-[a-z0-9.]+)?(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})$`)
		for _, f := range files {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			var names []string
			for _, s := range dockerStages(t, string(b)) {
				if s.image != "scratch" && !slices.Contains(names, s.image) {
					require.Regexp(t, pinned, s.image, "%s: base image pinned to a full version or a digest", f)
				}
				names = append(names, s.name)
			}
		}
	})

	t.Run("README", func(t *testing.T) {
		b, err := os.ReadFile("../README.md")
		require.NoError(t, err)
		require.True(t, strings.Contains(string(b), "Docker Compose v2"), "the README names the Compose it needs")
	})
}

// dockerStage is one FROM of a Dockerfile: its base image and the stage's
// name (empty without AS).
type dockerStage struct{ image, name string }

// dockerStages returns the FROM instructions of a Dockerfile, in order,
// with continuation lines joined and comments dropped.
func dockerStages(tb testing.TB, dockerfile string) []dockerStage {
	tb.Helper()
	var stages []dockerStage
	joined := regexp.MustCompile(`\\\n`).ReplaceAllString(dockerfile, " ")
	for l := range strings.SplitSeq(joined, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || !strings.EqualFold(f[0], "FROM") {
			continue
		}
		f = slices.DeleteFunc(f[1:], func(s string) bool { return strings.HasPrefix(s, "--") })
		require.True(tb, len(f) == 1 || len(f) == 3 && strings.EqualFold(f[1], "AS"), "FROM line %q", l)
		s := dockerStage{image: f[0]}
		if len(f) == 3 {
			s.name = f[2]
		}
		stages = append(stages, s)
	}
	return stages
}

// composeMount is the volume of s mounted at target.
func composeMount(tb testing.TB, s composetypes.ServiceConfig, target string) composetypes.ServiceVolumeConfig {
	tb.Helper()
	for _, v := range s.Volumes {
		if v.Target == target {
			return v
		}
	}
	tb.Fatalf("%s mounts nothing at %s", s.Name, target)
	return composetypes.ServiceVolumeConfig{}
}

// composeEnv is the value of the environment variable name of s.
func composeEnv(tb testing.TB, s composetypes.ServiceConfig, name string) string {
	tb.Helper()
	v, ok := s.Environment[name]
	require.True(tb, ok && v != nil, "%s sets %s", s.Name, name)
	return *v
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

// TestDevStack_IgnoresData: the JetStream directories that serve and the
// README's cluster create in the repository (data, data1..data3) are
// neither committed nor sent to the Docker build.
func TestDevStack_IgnoresData(t *testing.T) {
	dirs := []string{"data", "data1", "data2", "data3"}
	t.Run("git", func(t *testing.T) {
		if _, err := exec.LookPath("git"); err != nil {
			t.Skip("no git")
		}
		if err := exec.Command("git", "-C", "..", "rev-parse", "--is-inside-work-tree").Run(); err != nil {
			t.Skip("not a git work tree")
		}
		for _, d := range dirs {
			out, err := exec.Command("git", "-C", "..", "check-ignore", "--no-index", d+"/jetstream").CombinedOutput()
			require.NoError(t, err, "git ignores %s/: %s", d, out)
		}
		out, err := exec.Command("git", "-C", "..", "check-ignore", "--no-index", "deploy/nats/nats.conf").CombinedOutput()
		require.Error(t, err, "git ignores nothing else: %s", out)
	})
	t.Run("docker", func(t *testing.T) {
		b, err := os.ReadFile("../.dockerignore")
		require.NoError(t, err)
		var patterns []string
		for l := range strings.SplitSeq(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				patterns = append(patterns, l)
			}
		}
		ignored := func(name string) bool {
			return slices.ContainsFunc(patterns, func(p string) bool {
				ok, err := filepath.Match(p, name)
				require.NoError(t, err, p)
				return ok
			})
		}
		for _, d := range dirs {
			require.True(t, ignored(d), ".dockerignore keeps %s/ out of the build", d)
		}
		for _, keep := range []string{"cmd", "deploy", "examples", "go.mod", "docs"} {
			require.False(t, ignored(keep), ".dockerignore keeps %s", keep)
		}
	})
}
