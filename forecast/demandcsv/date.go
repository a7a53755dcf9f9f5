package demandcsv

import "fmt"

// Day is a calendar date as days since 1970-01-01.
type Day int64

// daysFromCivil is Howard Hinnant's algorithm for the proleptic Gregorian
// calendar.
func daysFromCivil(y, m, d int64) Day {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return Day(era*146097 + doe - 719468)
}

// Civil returns the year, month and day of d.
func (d Day) Civil() (y, m, dd int64) {
	z := int64(d) + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	dd = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, dd
}

// String formats d as YYYY-MM-DD.
func (d Day) String() string {
	y, m, dd := d.Civil()
	return fmt.Sprintf("%04d-%02d-%02d", y, m, dd)
}

// appendDay appends d as YYYY-MM-DD (years 0..9999).
func appendDay(b []byte, d Day) []byte {
	y, m, dd := d.Civil()
	return append(b, byte('0'+y/1000%10), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-', byte('0'+dd/10), byte('0'+dd%10))
}

// ParseDay parses YYYY-MM-DD.
func ParseDay(s string) (Day, error) { return parseDay([]byte(s)) }

func parseDay(b []byte) (Day, error) {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return 0, fmt.Errorf("date %q is not YYYY-MM-DD", b)
	}
	var bad byte
	digit := func(c byte) int64 {
		d := c - '0'
		bad |= d / 10 // non-zero unless 0 <= d <= 9 (bytes wrap below '0')
		return int64(d)
	}
	y := digit(b[0])*1000 + digit(b[1])*100 + digit(b[2])*10 + digit(b[3])
	m := digit(b[5])*10 + digit(b[6])
	d := digit(b[8])*10 + digit(b[9])
	if bad != 0 {
		return 0, fmt.Errorf("date %q is not YYYY-MM-DD", b)
	}
	if m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, fmt.Errorf("date %q does not exist", b)
	}
	return daysFromCivil(y, m, d), nil
}

// daysIn is the number of days of month m of year y.
func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
