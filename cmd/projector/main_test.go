package main

import (
	"bufio"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rogpeppe/go-internal/testscript"

	"latticestate/internal/embedded"
	"latticestate/pipeline"
	"latticestate/streams"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"projector": main,
	})
}

// TestScripts runs the CLI golden tests in testdata/script. Each script gets
// a real embedded JetStream server ($NATS_URL) and, unless it sets none, a
// live projector feeding its bucket; `publish FILE` publishes a file's
// lines as host events and `caughtup` waits until they are projected.
// $REPO is the repository's root, for scripts that run what the README
// shows on the files it names.
func TestScripts(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: os.Getenv("UPDATE_SCRIPTS") != "",
		Setup: func(env *testscript.Env) error {
			s, err := embedded.StartWithOptions(&server.Options{
				Host: "127.0.0.1", Port: -1, JetStream: true, NoSigs: true, NoLog: true,
				StoreDir: filepath.Join(env.WorkDir, ".nats"),
			})
			if err != nil {
				return err
			}
			env.Defer(s.Shutdown)
			env.Setenv("NATS_URL", s.ClientURL())
			env.Setenv("NATS_ADDR", s.Addr().String())
			env.Setenv("LATTICESTATE_NATS_URL", s.ClientURL())
			env.Setenv("NO_NATS_URL", "nats://127.0.0.1:1")
			env.Setenv("REPO", repo)
			return startScriptProjector(env, s.ClientURL())
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"publish":  cmdPublish,
			"caughtup": cmdCaughtUp,
			"sleep": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: sleep DURATION")
				}
				d, err := time.ParseDuration(args[0])
				ts.Check(err)
				time.Sleep(d)
			},
		},
	})
}

type scriptProjector struct{ p *pipeline.Projector }

func startScriptProjector(env *testscript.Env, url string) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	res, err := streams.Ensure(ctx, js, streams.DefaultOptions())
	if err != nil {
		cancel()
		return err
	}
	p, err := pipeline.New(ctx, js, res, pipeline.WithLogger(discardLogger()))
	if err != nil {
		cancel()
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.Run(ctx)
	}()
	env.Values["projector"] = &scriptProjector{p: p}
	env.Defer(func() {
		cancel()
		<-done
		nc.Close()
	})
	return nil
}

// cmdPublish publishes every line of a file to wasmbus.evt.<lattice>
// (default "default").
func cmdPublish(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: publish FILE [LATTICE]")
	}
	lattice := "default"
	if len(args) == 2 {
		lattice = args[1]
	}
	nc, err := nats.Connect(ts.Getenv("NATS_URL"))
	ts.Check(err)
	defer nc.Close()
	f, err := os.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		ts.Check(nc.Publish(streams.HostEventSubject(lattice), sc.Bytes()))
	}
	ts.Check(sc.Err())
	ts.Check(nc.Flush())
}

// cmdCaughtUp waits until the script's projector has applied every event.
func cmdCaughtUp(ts *testscript.TestScript, neg bool, args []string) {
	sp := ts.Value("projector").(*scriptProjector)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st, err := sp.p.Status(context.Background())
		if err == nil && st.CaughtUp() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("projector not caught up after 10s")
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
