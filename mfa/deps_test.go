package mfa_test
import (
	_ "github.com/pquerna/otp/totp"
	_ "github.com/go-webauthn/webauthn/webauthn"
	_ "github.com/descope/virtualwebauthn"
	_ "github.com/chromedp/chromedp"
	_ "github.com/boombuler/barcode/qr"
)
