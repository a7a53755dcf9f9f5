package forecast

import (
	"fmt"
	"math"
)

// Kind is the demand pattern of a series in the Syntetos-Boylan scheme.
type Kind string

// The demand patterns, by average inter-demand interval (ADI, cut-off 1.32)
// and squared coefficient of variation of the non-zero sizes (CV², 0.49).
const (
	Smooth       Kind = "smooth"       // ADI < 1.32, CV² < 0.49
	Erratic      Kind = "erratic"      // ADI < 1.32, CV² ≥ 0.49
	Intermittent Kind = "intermittent" // ADI ≥ 1.32, CV² < 0.49
	Lumpy        Kind = "lumpy"        // ADI ≥ 1.32, CV² ≥ 0.49
	NoDemand     Kind = "no-demand"    // no positive observation
)

// Class is the classification of a series' demand pattern.
type Class struct {
	Kind Kind    `json:"kind"`
	ADI  float64 `json:"adi"`  // observed days per day with demand
	CV2  float64 `json:"cv2"`  // squared coefficient of variation of non-zero demand
	Days int     `json:"days"` // observed days classified
}

// String reads like "intermittent (ADI 2.30, CV² 0.40)".
func (c Class) String() string {
	return fmt.Sprintf("%s (ADI %.2f, CV² %.2f)", c.Kind, c.ADI, c.CV2)
}

// Intermittent reports whether demand is intermittent or lumpy.
func (c Class) Intermittent() bool { return c.Kind == Intermittent || c.Kind == Lumpy }

// Classify classifies the observed days of y (NaN = missing).
func Classify(y []float64) Class {
	var days, nz int
	var sum, sq float64
	for _, v := range y {
		if math.IsNaN(v) {
			continue
		}
		days++
		if v > 0 {
			nz++
			sum += v
			sq += v * v
		}
	}
	if nz == 0 {
		return Class{Kind: NoDemand, Days: days}
	}
	c := Class{ADI: float64(days) / float64(nz), Days: days}
	mean := sum / float64(nz)
	if mean > 0 {
		c.CV2 = max(sq/float64(nz)-mean*mean, 0) / (mean * mean)
	}
	switch {
	case c.ADI < 1.32 && c.CV2 < 0.49:
		c.Kind = Smooth
	case c.ADI < 1.32:
		c.Kind = Erratic
	case c.CV2 < 0.49:
		c.Kind = Intermittent
	default:
		c.Kind = Lumpy
	}
	return c
}
