package op

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// proofFor signs claims as a DPoP proof with key, carrying jwk (normally
// key's public key) and typ.
func proofFor(t testing.TB, key *ecdsa.PrivateKey, jwk any, typ string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("jwk", jose.JSONWebKey{Key: jwk}))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

func TestParseDPoPProof(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Unix(1_800_000_000, 0)
	const htu = "https://id.example.com/token"
	claims := func(change func(map[string]any)) map[string]any {
		c := map[string]any{"jti": "j", "htm": "POST", "htu": htu, "iat": now.Unix()}
		if change != nil {
			change(c)
		}
		return c
	}
	for _, tt := range []struct {
		name  string
		proof string
		ok    bool
	}{
		{"a good proof", proofFor(t, key, key.Public(), "dpop+jwt", claims(nil)), true},
		{"htu with a query still matches", proofFor(t, key, key.Public(), "dpop+jwt", claims(func(c map[string]any) { c["htu"] = htu + "?x=1" })), true},
		{"the wrong typ", proofFor(t, key, key.Public(), "JWT", claims(nil)), false},
		{"signed by another key", proofFor(t, other, key.Public(), "dpop+jwt", claims(nil)), false},
		{"a private key in the header", proofFor(t, key, key, "dpop+jwt", claims(nil)), false},
		{"no jti", proofFor(t, key, key.Public(), "dpop+jwt", claims(func(c map[string]any) { delete(c, "jti") })), false},
		{"no iat", proofFor(t, key, key.Public(), "dpop+jwt", claims(func(c map[string]any) { delete(c, "iat") })), false},
		{"the wrong htm", proofFor(t, key, key.Public(), "dpop+jwt", claims(func(c map[string]any) { c["htm"] = "GET" })), false},
		{"another host in htu", proofFor(t, key, key.Public(), "dpop+jwt", claims(func(c map[string]any) { c["htu"] = "https://evil.example/token" })), false},
		{"a stale iat", proofFor(t, key, key.Public(), "dpop+jwt", claims(func(c map[string]any) { c["iat"] = now.Add(-2 * time.Minute).Unix() })), false},
		{"not a JWS", "not.a.jws", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseDPoPProof(tt.proof, "POST", htu, "", now)
			var de *dpopError
			if tt.ok != (err == nil) || (err != nil && !errors.As(err, &de)) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// FuzzParseDPoPProof: any DPoP header value is refused with a
// *dpopError or accepted only when it has a key thumbprint and a jti.
func FuzzParseDPoPProof(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Unix(1_800_000_000, 0)
	f.Add(proofFor(f, key, key.Public(), "dpop+jwt", map[string]any{"jti": "j", "htm": "POST", "htu": "https://id.example.com/token", "iat": now.Unix()}))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, v string) {
		p, err := parseDPoPProof(v, "POST", "https://id.example.com/token", "", now)
		var de *dpopError
		switch {
		case err != nil && !errors.As(err, &de):
			t.Fatalf("not a dpopError: %v", err)
		case err == nil && (p.jkt == "" || p.jti == ""):
			t.Fatalf("accepted without a key or jti: %+v", p)
		}
	})
}
