package forecast

import "strings"

// Method names a forecasting method.
type Method string

// The methods. Auto chooses per series (see the package doc).
const (
	Auto           Method = "auto"
	Naive          Method = "naive"
	SeasonalNaive  Method = "snaive"
	MovingAverage  Method = "ma"
	MAWeekly       Method = "ma-weekly"
	SES            Method = "ses"
	ETS            Method = "ets"
	HoltWintersAdd Method = "hw-add"
	HoltWintersMul Method = "hw-mul"
	ETSYearly      Method = "ets-yearly"
	Croston        Method = "croston"
	SBA            Method = "sba"
	TSB            Method = "tsb"
)

// Methods lists every single method (not Auto) in a fixed order.
func Methods() []Method {
	return []Method{Naive, SeasonalNaive, MovingAverage, MAWeekly, SES, ETS, HoltWintersAdd, HoltWintersMul,
		ETSYearly, Croston, SBA, TSB}
}

// ParseMethod returns the method named s (case-insensitive); "" is Auto.
func ParseMethod(s string) (Method, error) {
	if s == "" {
		return Auto, nil
	}
	m := Method(strings.ToLower(strings.TrimSpace(s)))
	if m == Auto {
		return m, nil
	}
	for _, k := range Methods() {
		if k == m {
			return m, nil
		}
	}
	return "", invalidf("unknown method %q (want auto or one of %s)", s, methodList())
}

// methodList is the comma-separated list of single methods, for messages.
func methodList() string {
	var b strings.Builder
	for i, m := range Methods() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(m))
	}
	return b.String()
}
