package forecast

// Defaults and limits of Options.
const (
	DefaultHorizon = 28
	MaxHorizon     = 182
	DefaultWindow  = 364 // 52 weeks
	MinWindow      = 28
	// validationHorizon caps the horizon scored in rolling-origin validation.
	validationHorizon = 28
	// errorOrigins is how many recent days of origins feed the error
	// distribution (every originStride-th of them).
	errorOrigins = 350
	// warmup is how many days a model runs before its errors are trusted.
	warmup = 14
	// minFit is the fewest days a model is fitted on before validation is used.
	minFit = 28
	// scaleFloor × the window's mean demand is the smallest forecast an
	// error scale is taken from.
	scaleFloor = 0.25
	// combineTop is how many of the best validated methods Auto averages.
	combineTop = 4
)

// Options control Fit. The zero value asks for Auto over DefaultHorizon days
// fitted on the last DefaultWindow days.
type Options struct {
	// Method is the method to use; "" means Auto.
	Method Method
	// Horizon is the number of days forecast, 1..MaxHorizon. It must cover
	// the longest lead time (plus review period) the caller asks about.
	Horizon int
	// Window is the number of trailing days the models are fitted on and run
	// over, ≥ MinWindow (ETSYearly also reads up to four earlier years to
	// estimate the yearly profile).
	Window int
}

// withDefaults fills zero fields and validates the rest.
func (o Options) withDefaults() (Options, error) {
	m, err := ParseMethod(string(o.Method))
	if err != nil {
		return o, err
	}
	o.Method = m
	if o.Horizon == 0 {
		o.Horizon = DefaultHorizon
	}
	if o.Horizon < 1 || o.Horizon > MaxHorizon {
		return o, invalidf("horizon %d out of range 1..%d", o.Horizon, MaxHorizon)
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.Window < MinWindow {
		return o, invalidf("window %d is shorter than %d days", o.Window, MinWindow)
	}
	return o, nil
}
