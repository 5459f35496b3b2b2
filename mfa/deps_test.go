package mfa_test

import (
	_ "github.com/boombuler/barcode/qr"
	_ "github.com/chromedp/chromedp"
	_ "github.com/descope/virtualwebauthn"
	_ "github.com/go-webauthn/webauthn/webauthn"
	_ "github.com/pquerna/otp/totp"
)
