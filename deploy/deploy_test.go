package deploy

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"

	"latticestate/internal/view"
	"latticestate/pipeline"
	"latticestate/projections"
)

// The lattice gauges /metrics carries besides the pipeline's metrics
// (hosts by status, actor instances, providers by status, per lattice), as
// the state view that counts them names them.
const (
	LatticeHostsMetric          = view.LatticeHostsMetric
	LatticeActorInstancesMetric = view.LatticeActorInstancesMetric
	LatticeProvidersMetric      = view.LatticeProvidersMetric
)

const (
	dashboardFile = "grafana/latticestate.json"
	alertsFile    = "prometheus/alerts.yml"
)

// exportedSeries returns the series names a Prometheus scraping the
// projector can see: every metric of pipeline.NewMetrics and
// pipeline.NewEnricherMetrics, gathered from a real registry (histograms as
// their _bucket, _sum and _count series), and the lattice gauges.
func exportedSeries(tb testing.TB) map[string]bool {
	tb.Helper()
	reg := prometheus.NewRegistry()
	m := pipeline.NewMetrics(reg)
	em := pipeline.NewEnricherMetrics(reg)
	// A vector is gathered only once it has a child.
	m.Rejected.WithLabelValues("x")
	em.Outcomes.WithLabelValues("x")
	families, err := reg.Gather()
	require.NoError(tb, err)
	names := map[string]bool{}
	for _, f := range families {
		name := f.GetName()
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
		default:
			names[name] = true
		}
	}
	require.True(tb, names["latticestate_events_applied_total"], "gathered: %v", slices.Sorted(maps.Keys(names)))
	for _, g := range []string{LatticeHostsMetric, LatticeActorInstancesMetric, LatticeProvidersMetric} {
		names[g] = true
	}
	return names
}

// grafanaVariables are the dashboard variables that stand for a duration
// in a range selector; label matchers hold the others ("$lattice") in
// strings, which PromQL parses as they are.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// selectorsIn parses a PromQL expression and returns its series
// selectors.
func selectorsIn(expr string) ([]*parser.VectorSelector, error) {
	e, err := parser.ParseExpr(grafanaVariables.Replace(expr))
	if err != nil {
		return nil, fmt.Errorf("%q: %w", expr, err)
	}
	var sels []*parser.VectorSelector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			sels = append(sels, vs)
		}
		return nil
	})
	return sels, nil
}

// seriesIn returns the series names the selectors of a PromQL expression
// read, in order of appearance.
func seriesIn(expr string) ([]string, error) {
	sels, err := selectorsIn(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, vs := range sels {
		name := vs.Name
		for _, lm := range vs.LabelMatchers {
			if lm.Name != labels.MetricName || name != "" {
				continue
			}
			if lm.Type != labels.MatchEqual {
				return nil, fmt.Errorf("%q: selects series by a %s name pattern", expr, lm.Type)
			}
			name = lm.Value
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names, nil
}

func TestSeriesIn(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
		err  string
	}{
		{`max by (lattice) (latticestate_lattice_hosts{status="stale"}) > 0`, []string{"latticestate_lattice_hosts"}, ""},
		{`sum(rate(a_total[$__rate_interval])) / sum(rate(b_count{lattice=~"$lattice"}[5m])) + a_total`, []string{"a_total", "b_count"}, ""},
		{`histogram_quantile(0.99, sum by (le) (rate(w_bucket[1m])))`, []string{"w_bucket"}, ""},
		{`{__name__="n", lattice="x"}`, []string{"n"}, ""},
		{`{__name__=~"latticestate_.*"}`, nil, "name pattern"},
		{`sum(rate(a_total[$unknown]))`, nil, "parse error"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			got, err := seriesIn(tc.expr)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// dashboardExprs returns every PromQL expression of the dashboard: panel
// targets (rows' panels too) and the queries of label_values variables.
func dashboardExprs(tb testing.TB, dash map[string]any) map[string]string {
	tb.Helper()
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)
	exprs := map[string]string{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if s, ok := c.(string); ok && k == "expr" {
					exprs[path+"."+k] = s
				}
				if s, ok := c.(string); ok && k == "definition" {
					m := labelValues.FindStringSubmatch(s)
					require.NotNil(tb, m, "%s.%s: %q is not label_values(expr, label)", path, k, s)
					exprs[path+"."+k] = m[1]
				}
				walk(path+"."+k, c)
			}
		case []any:
			for i, c := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), c)
			}
		}
	}
	walk("", dash)
	return exprs
}

// TestDeploy_MetricsExist: every series the dashboard and the alerting
// rules query is one the projector exports.
func TestDeploy_MetricsExist(t *testing.T) {
	exported := exportedSeries(t)
	used := map[string][]string{}
	note := func(where, expr string) {
		names, err := seriesIn(expr)
		require.NoError(t, err, where)
		require.NotEmpty(t, names, "%s: %q reads no series", where, expr)
		for _, n := range names {
			used[n] = append(used[n], where)
		}
	}

	b, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var dash map[string]any
	require.NoError(t, json.Unmarshal(b, &dash), dashboardFile)
	exprs := dashboardExprs(t, dash)
	require.Greater(t, len(exprs), 10, "%s: expressions found", dashboardFile)
	for where, expr := range exprs {
		note(dashboardFile+where, expr)
	}

	groups, errs := rulefmt.ParseFile(alertsFile, false)
	require.Empty(t, errs, "%s", alertsFile)
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			note(alertsFile+": "+r.Alert+r.Record, r.Expr)
		}
	}

	for name, where := range used {
		require.True(t, exported[name], "%s is not exported by the projector; used in %v", name, where)
	}
	for _, g := range []string{LatticeHostsMetric, LatticeActorInstancesMetric, LatticeProvidersMetric} {
		require.Contains(t, used, g, "the lattice gauge %s is shown or alerted on", g)
	}
}

// statuses are the values the status label of each lattice gauge takes:
// those of the documents.
var statuses = map[string][]string{
	LatticeHostsMetric: {projections.StatusUp, projections.StatusStale},
	LatticeProvidersMetric: {projections.StatusAwaiting, projections.StatusHealthy,
		projections.StatusUnhealthy},
}

// requireKnownStatuses fails when a selector of expr matches a lattice
// gauge's status label with a value its documents never have ("Stale",
// "unhealthy"), which would select nothing and never fire.
func requireKnownStatuses(tb testing.TB, where, expr string) {
	tb.Helper()
	sels, err := selectorsIn(expr)
	require.NoError(tb, err, where)
	for _, vs := range sels {
		for _, lm := range vs.LabelMatchers {
			if lm.Name != "status" {
				continue
			}
			valid, ok := statuses[vs.Name]
			require.True(tb, ok, "%s: %s has no status label", where, vs.Name)
			require.Equal(tb, labels.MatchEqual, lm.Type, "%s: status matched exactly", where)
			require.Contains(tb, valid, lm.Value, "%s: status of %s", where, vs.Name)
		}
	}
}

// TestDeploy_Alerts: the example rules are the two the operations guide
// describes, each on the lattice gauge and status it names.
func TestDeploy_Alerts(t *testing.T) {
	groups, errs := rulefmt.ParseFile(alertsFile, false)
	require.Empty(t, errs, "%s", alertsFile)
	want := map[string]struct{ metric, status string }{
		"LatticeHostsStale":         {LatticeHostsMetric, projections.StatusStale},
		"LatticeProvidersUnhealthy": {LatticeProvidersMetric, projections.StatusUnhealthy},
	}
	var got []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			got = append(got, r.Alert)
			w, ok := want[r.Alert]
			require.True(t, ok, "unexpected rule %q", r.Alert+r.Record)
			requireKnownStatuses(t, r.Alert, r.Expr)
			sels, err := selectorsIn(r.Expr)
			require.NoError(t, err)
			require.Len(t, sels, 1, r.Alert)
			require.Equal(t, w.metric, sels[0].Name, r.Alert)
			require.Contains(t, sels[0].LabelMatchers, labels.MustNewMatcher(labels.MatchEqual, "status", w.status), r.Alert)
			require.Positive(t, r.For, "%s waits before firing", r.Alert)
			require.NotEmpty(t, r.Labels["severity"], r.Alert)
			require.NotEmpty(t, r.Annotations["summary"], r.Alert)
		}
	}
	require.ElementsMatch(t, slices.Collect(maps.Keys(want)), got)
}

// TestDeploy_Dashboard: the dashboard imports as it is (datasource chosen
// through a variable, no __inputs to fill), its panels have unique ids,
// fit the 24-column grid without overlapping, and query with refIds
// unique per panel; status filters use statuses the documents have.
func TestDeploy_Dashboard(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var dash struct {
		UID        string `json:"uid"`
		Title      string `json:"title"`
		Inputs     []any  `json:"__inputs"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []dashboardPanel `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &dash))
	require.Equal(t, "latticestate", dash.UID)
	require.NotEmpty(t, dash.Title)
	require.Empty(t, dash.Inputs, "provisioning does not fill __inputs")
	vars := map[string]string{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = v.Type
		if v.Type == "datasource" {
			require.Equal(t, "prometheus", v.Query)
		}
	}
	require.Equal(t, "datasource", vars["datasource"])
	require.Equal(t, "query", vars["lattice"])

	ids := map[int]bool{}
	var cells [][24]bool
	for _, p := range dash.Panels {
		require.False(t, ids[p.ID], "panel id %d used twice", p.ID)
		ids[p.ID] = true
		g := p.GridPos
		require.True(t, g.W > 0 && g.H > 0 && g.X >= 0 && g.Y >= 0 && g.X+g.W <= 24, "panel %q at %+v", p.Title, g)
		for len(cells) < g.Y+g.H {
			cells = append(cells, [24]bool{})
		}
		for y := g.Y; y < g.Y+g.H; y++ {
			for x := g.X; x < g.X+g.W; x++ {
				require.False(t, cells[y][x], "panel %q overlaps another at %d,%d", p.Title, x, y)
				cells[y][x] = true
			}
		}
		if p.Type == "row" {
			continue
		}
		require.Equal(t, "${datasource}", p.Datasource.UID, "panel %q", p.Title)
		require.NotEmpty(t, p.Targets, "panel %q", p.Title)
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			require.False(t, refs[tg.RefID], "panel %q: refId %s twice", p.Title, tg.RefID)
			refs[tg.RefID] = true
			require.Equal(t, "${datasource}", tg.Datasource.UID, "panel %q", p.Title)
			requireKnownStatuses(t, p.Title, tg.Expr)
		}
	}
}

type dashboardPanel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos struct {
		X int `json:"x"`
		Y int `json:"y"`
		W int `json:"w"`
		H int `json:"h"`
	} `json:"gridPos"`
	Datasource struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
}
