package demandcsv

import (
	"context"
	"io"

	"golang.org/x/sync/errgroup"
)

// Process reads every series from r, runs work on up to workers series at
// once and calls emit with the results in input order, from one goroutine.
// At most 4×workers series are in flight, so memory stays bounded whatever
// the file's size. The first error (from reading, work or emit) or the
// cancellation of ctx stops everything and is returned.
func Process[T any](ctx context.Context, r *Reader, workers int, work func(Series) (T, error), emit func(Series, T) error) error {
	workers = max(workers, 1)
	type result struct {
		s   Series
		v   T
		err error
	}
	type job struct {
		s   Series
		out chan result
	}
	g, ctx := errgroup.WithContext(ctx)
	jobs := make(chan job)
	order := make(chan chan result, 4*workers)
	g.Go(func() error { // reader: hands out jobs and records their order
		defer close(jobs)
		defer close(order)
		for {
			s, err := r.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			out := make(chan result, 1)
			select {
			case order <- out:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case jobs <- job{s, out}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	for range workers {
		g.Go(func() error {
			for j := range jobs {
				v, err := work(j.s)
				j.out <- result{j.s, v, err}
			}
			return nil
		})
	}
	g.Go(func() error { // emitter: waits for results in input order
		for out := range order {
			var res result
			select {
			case res = <-out:
			case <-ctx.Done():
				return ctx.Err()
			}
			if res.err != nil {
				return res.err
			}
			if err := emit(res.s, res.v); err != nil {
				return err
			}
		}
		return nil
	})
	return g.Wait()
}
