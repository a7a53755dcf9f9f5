package inventory

// MaxSKULength is the longest SKU accepted.
const MaxSKULength = 64

// ValidateSKU checks that sku is 1–64 characters of A-Z a-z 0-9 . _ -.
func ValidateSKU(sku string) error {
	if len(sku) == 0 || len(sku) > MaxSKULength {
		return Validation("sku", "sku must be 1-%d characters", MaxSKULength)
	}
	for i := 0; i < len(sku); i++ {
		c := sku[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return Validation("sku", "sku %q may only contain A-Z a-z 0-9 . _ -", sku)
		}
	}
	return nil
}
