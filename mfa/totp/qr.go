package totp

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"github.com/boombuler/barcode/qr"
)

// QR code sizes QRPNG accepts, in pixels.
const (
	// MaxQRSize keeps a size taken from a request from allocating much.
	MaxQRSize = 2048
	// quietZone is the margin of light modules, in modules, ISO/IEC 18004 asks for
	// around the symbol; without it some phone scanners fail.
	quietZone = 4
)

// QRPNG renders k.URI() as a size×size PNG QR code, rendered here rather
// than by an external service (the URI contains the secret). It uses error
// correction level M, whole pixels per module (crisp when scaled by the
// browser) and a four-module quiet zone; size must be between what the
// symbol needs (about 50 px for our URIs) and MaxQRSize.
func (k Key) QRPNG(size int) ([]byte, error) {
	if size <= 0 || size > MaxQRSize {
		return nil, fmt.Errorf("totp: QR size %d px outside (0, %d]", size, MaxQRSize)
	}
	// Byte mode: the URI has lower-case letters, outside QR's alphanumeric set.
	code, err := qr.Encode(k.URI(), qr.M, qr.Unicode)
	if err != nil {
		return nil, fmt.Errorf("totp: encode QR: %w", err)
	}
	modules := code.Bounds().Dx()
	scale := size / (modules + 2*quietZone)
	if scale < 1 {
		return nil, fmt.Errorf("totp: QR size %d px too small for %d modules and the quiet zone", size, modules)
	}

	// Two-colour palette: the PNG encoder then writes 1 bit per pixel.
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	offset := (size - modules*scale) / 2 // centred; the margin is >= the quiet zone
	for y := range modules {
		for x := range modules {
			if r, _, _, _ := code.At(x, y).RGBA(); r != 0 {
				continue // light module: already white (palette index 0)
			}
			for dy := range scale {
				row := img.Pix[(offset+y*scale+dy)*img.Stride:]
				for dx := range scale {
					row[offset+x*scale+dx] = 1
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp: encode PNG: %w", err)
	}
	return buf.Bytes(), nil
}
