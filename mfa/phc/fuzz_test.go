package phc_test

import (
	"testing"

	"github.com/twofold-idp/twofold/mfa/phc"
)

func FuzzParse(f *testing.F) {
	f.Add(good)
	f.Add("$argon2id$v=19$m=4096,t=3,p=4$MTIzNDU2Nzg$MDEyMzQ1Njc4OWFiY2RlZg")
	f.Add("$argon2id$v=19$m=4194304,t=64,p=255$" + salt + "$" + key)
	f.Add("$argon2id$v=19$m=0,t=0,p=0$$")
	f.Add("$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$")
	f.Add("$argon2id$v=19$m=256,t=2,p=1,keyid=abc$" + salt + "$" + key)
	f.Add("")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, encoded string) {
		a, err := phc.Parse(encoded, maxLen)
		if err != nil {
			return
		}
		if len(encoded) > maxLen {
			t.Fatalf("accepted %d bytes over a limit of %d", len(encoded), maxLen)
		}
		// The parser is strict, so it accepts one spelling per hash.
		if again := phc.Encode(a); again != encoded {
			t.Fatalf("accepted a non-canonical encoding:\n got %q\nwant %q", encoded, again)
		}
	})
}
