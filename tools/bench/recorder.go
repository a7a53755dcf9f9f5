package bench

import (
	"math"
	"slices"
	"time"
)

// requestKind names what one request (or one SQL transaction) did.
type requestKind uint8

const (
	kindRead requestKind = iota
	kindReserve
	kindCommit
	kindRelease
	kindAdjust
	kindReport
	numKinds
)

var kindNames = [numKinds]string{"read", "reserve", "commit", "release", "adjust", "report"}

func (k requestKind) String() string { return kindNames[k] }

// window is the measured interval: only requests and operations that finish inside it count.
type window struct{ start, end time.Time }

func (w window) contains(t time.Time) bool { return !t.Before(w.start) && t.Before(w.end) }

// maxErrorSamples bounds the distinct error messages a recorder keeps.
const maxErrorSamples = 5

// recorder collects one worker's measurements without locks; recorders are merged when the
// workers are done. Every latency is kept (a run of 10 s at 20,000 requests/s is 1.6 MB).
type recorder struct {
	w          window
	lat        [numKinds][]time.Duration
	opLat      []time.Duration
	okOps      int64
	statuses   map[string]int64
	transport  int64
	retries    int64
	errSamples []string
}

func newRecorder(w window) *recorder {
	return &recorder{w: w, statuses: map[string]int64{}}
}

// request records one request that started at start and ended now with the given status
// ("200", or for SQL "ok" or an error code). A transport error has status "".
func (r *recorder) request(kind requestKind, start, end time.Time, status string, err error) {
	if !r.w.contains(end) {
		return
	}
	r.lat[kind] = append(r.lat[kind], end.Sub(start))
	if status == "" {
		r.transport++
	} else {
		r.statuses[status]++
	}
	if err != nil {
		r.sample(err.Error())
	}
}

// op records one whole operation (e.g. a reserve and its commit).
func (r *recorder) op(start, end time.Time, ok bool) {
	if !r.w.contains(end) {
		return
	}
	r.opLat = append(r.opLat, end.Sub(start))
	if ok {
		r.okOps++
	}
}

// retry records a transaction retried after a deadlock or lock wait timeout.
func (r *recorder) retry(end time.Time) {
	if r.w.contains(end) {
		r.retries++
	}
}

func (r *recorder) sample(msg string) {
	if len(r.errSamples) < maxErrorSamples && !slices.Contains(r.errSamples, msg) {
		r.errSamples = append(r.errSamples, msg)
	}
}

// result merges the recorders of one run into its Result.
func result(mode string, w window, recs []*recorder) *Result {
	res := &Result{Mode: mode, ElapsedSeconds: w.end.Sub(w.start).Seconds(), Statuses: map[string]int64{},
		ByRequest: map[string]Latency{}}
	var all, ops []time.Duration
	for k := requestKind(0); k < numKinds; k++ {
		var lat []time.Duration
		for _, r := range recs {
			lat = append(lat, r.lat[k]...)
		}
		if len(lat) == 0 {
			continue
		}
		all = append(all, lat...)
		res.ByRequest[k.String()] = summarize(lat)
	}
	for _, r := range recs {
		ops = append(ops, r.opLat...)
		res.OKOps += r.okOps
		res.TransportErrors += r.transport
		res.Retries += r.retries
		for s, n := range r.statuses {
			res.Statuses[s] += n
		}
		for _, m := range r.errSamples {
			if len(res.ErrorSamples) < maxErrorSamples && !slices.Contains(res.ErrorSamples, m) {
				res.ErrorSamples = append(res.ErrorSamples, m)
			}
		}
	}
	res.Requests = int64(len(all))
	res.Ops = int64(len(ops))
	res.FailedOps = res.Ops - res.OKOps
	if sec := res.ElapsedSeconds; sec > 0 {
		res.OpsPerSec = float64(res.Ops) / sec
		res.OKOpsPerSec = float64(res.OKOps) / sec
		res.RequestsPerSec = float64(res.Requests) / sec
	}
	res.Latency = summarize(all)
	res.OpLatency = summarize(ops)
	return res
}

// summarize sorts lat in place and reads its percentiles (nearest rank).
func summarize(lat []time.Duration) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(lat)))) - 1
		return lat[min(max(i, 0), len(lat)-1)]
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return Latency{Count: int64(len(lat)), MeanMs: ms(sum / time.Duration(len(lat))),
		P50Ms: ms(rank(0.50)), P90Ms: ms(rank(0.90)), P99Ms: ms(rank(0.99)), MaxMs: ms(lat[len(lat)-1])}
}
