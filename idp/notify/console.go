package notify

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Notes for the console banners.
const (
	// NoSMTPNote: the console stands in for SMTP.
	NoSMTPNote = "no SMTP configured"
	// NoSMSNote: the console stands in for the SMS webhook (the demo).
	NoSMSNote = "no SMS webhook configured"
	// DemoCopyNote: the demo prints a copy of what a real channel sent.
	DemoCopyNote = "copy printed by --demo"
)

// ConsoleMailer prints each mail (recipient, subject, text body) to a
// writer, between banners that say why: development and the demo show every
// flow with no mail server. It never fails unless the writer does.
type ConsoleMailer struct {
	console
}

// ConsoleSMS is ConsoleMailer for text messages.
type ConsoleSMS struct {
	console
}

var (
	_ Mailer    = (*ConsoleMailer)(nil)
	_ SMSSender = (*ConsoleSMS)(nil)
)

// NewConsoleMailer prints mail to w; note says why in the banner
// (NoSMTPNote, DemoCopyNote).
func NewConsoleMailer(w io.Writer, note string) *ConsoleMailer {
	return &ConsoleMailer{console{w: w, note: note}}
}

// NewConsoleSMS prints text messages to w; note as for NewConsoleMailer.
func NewConsoleSMS(w io.Writer, note string) *ConsoleSMS {
	return &ConsoleSMS{console{w: w, note: note}}
}

// SendMail prints m.
func (c *ConsoleMailer) SendMail(ctx context.Context, m Mail) error {
	return c.print(ctx, "MAIL", [][2]string{{"To", m.To}, {"Subject", m.Subject}}, m.Text)
}

// SendSMS prints m.
func (c *ConsoleSMS) SendSMS(ctx context.Context, m SMS) error {
	return c.print(ctx, "SMS", [][2]string{{"To", m.To}}, m.Text)
}

type console struct {
	mu   sync.Mutex // one message at a time, never interleaved
	w    io.Writer
	note string
}

func (c *console) print(ctx context.Context, what string, headers [][2]string, body string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var b strings.Builder
	title := what
	if c.note != "" {
		title += " (" + c.note + ")"
	}
	fmt.Fprintf(&b, "\n  ======== %s ========\n", title)
	for _, h := range headers {
		fmt.Fprintf(&b, "  %-8s %s\n", h[0]+":", cleanText(h[1], 200))
	}
	b.WriteString("  ----------------------------------------\n")
	for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		b.WriteString(strings.TrimRight("  "+line, " ") + "\n")
	}
	fmt.Fprintf(&b, "  ======== END %s ========\n\n", what)
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := io.WriteString(c.w, b.String())
	return err
}

// TeeMailer sends through primary and, once primary has accepted a mail,
// through each copy (the demo prints what it sent to the console). Only
// primary's error is returned; a copy that fails is ignored.
func TeeMailer(primary Mailer, copies ...Mailer) Mailer {
	return teeMailer{primary, copies}
}

// TeeSMS is TeeMailer for text messages.
func TeeSMS(primary SMSSender, copies ...SMSSender) SMSSender {
	return teeSMS{primary, copies}
}

type teeMailer struct {
	primary Mailer
	copies  []Mailer
}

func (t teeMailer) SendMail(ctx context.Context, m Mail) error {
	if err := t.primary.SendMail(ctx, m); err != nil {
		return err
	}
	for _, c := range t.copies {
		_ = c.SendMail(ctx, m)
	}
	return nil
}

type teeSMS struct {
	primary SMSSender
	copies  []SMSSender
}

func (t teeSMS) SendSMS(ctx context.Context, m SMS) error {
	if err := t.primary.SendSMS(ctx, m); err != nil {
		return err
	}
	for _, c := range t.copies {
		_ = c.SendSMS(ctx, m)
	}
	return nil
}
