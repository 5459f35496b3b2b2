package password

import "testing"

func BenchmarkHashDefault(b *testing.B) {
	h := New(DefaultParams, 0)
	for b.Loop() {
		if _, err := h.Hash(b.Context(), "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyDummy(b *testing.B) {
	h := New(DefaultParams, 0)
	for b.Loop() {
		h.VerifyDummy(b.Context(), "correct horse battery staple")
	}
}
