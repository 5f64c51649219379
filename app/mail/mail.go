// Package mail is the product's one way to send e-mail: a Message (to, subject, a plain-text body
// and a few extra headers) handed to Send, over the SMTP server SMTP_URL names. Notifications use
// it now; the practice administration's invitations and password resets will use it too.
//
// It must not know what a message is about: callers build the text, and the text of anything
// that concerns a patient carries no health information (app/notify owns that rule, and
// app/mail/mailtest checks it). Nothing here logs addresses or text.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one e-mail: plain text only, so nothing in it runs or loads in a mail client.
type Message struct {
	To      string // a bare address
	Subject string
	Text    string
	// Headers are extra headers by name, such as List-Unsubscribe and List-Unsubscribe-Post
	// (RFC 8058); those that Send sets itself (From, To, Subject, Date, Message-ID) are refused.
	Headers map[string]string
	// ID makes the Message-ID, so that a message sent again after a crash carries the same
	// one ("notification-42"): mail clients and servers fold copies with one id together.
	// Empty for a fresh one.
	ID string
}

// Config is where mail goes: SMTP_URL and MAIL_FROM, parsed.
type Config struct {
	Host     string
	Port     int
	Username string
	Password string
	// TLS is how the connection is protected: STARTTLS required (smtp://), TLS from the first
	// byte (smtps://), or none (smtp://…?tls=none, for a local catcher only).
	TLS  TLSMode
	From string // a bare address
	// Timeout bounds each step of a send (dial, each command), so a server that hangs does not
	// hold a worker for ever.
	Timeout time.Duration
}

// TLSMode is how a connection to the SMTP server is protected.
type TLSMode string

// The TLS modes SMTP_URL can name.
const (
	StartTLS    TLSMode = "starttls" // smtp://host:587: the server must offer STARTTLS
	ImplicitTLS TLSMode = "tls"      // smtps://host:465
	NoTLS       TLSMode = "none"     // smtp://host:1025?tls=none: a local catcher, never production
)

// ParseConfig reads SMTP_URL and MAIL_FROM. The error says what is wrong without repeating the
// URL, which may hold a password.
func ParseConfig(smtpURL, from string) (Config, error) {
	u, err := url.Parse(smtpURL)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return Config{}, errors.New("SMTP_URL must look like smtp://user:password@host:587 or smtps://user:password@host:465")
	}
	c := Config{Host: u.Hostname(), Timeout: 15 * time.Second}
	switch u.Scheme {
	case "smtp":
		c.TLS, c.Port = StartTLS, 587
	case "smtps":
		c.TLS, c.Port = ImplicitTLS, 465
	default:
		return Config{}, fmt.Errorf("SMTP_URL scheme %q must be smtp or smtps", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if c.Port, err = strconv.Atoi(p); err != nil || c.Port < 1 || c.Port > 65535 {
			return Config{}, errors.New("SMTP_URL has a port that is not a number from 1 to 65535")
		}
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	for k, v := range u.Query() {
		switch {
		case k == "tls" && len(v) == 1 && v[0] == "none" && c.TLS == StartTLS:
			c.TLS = NoTLS
		default:
			return Config{}, fmt.Errorf("SMTP_URL option %q is not known (only tls=none, on smtp://, for a local catcher)", k)
		}
	}
	if from == "" {
		return Config{}, errors.New("MAIL_FROM is not set: the address e-mail is sent from, such as messages@example.com")
	}
	if a, err := mail.ParseAddress(from); err != nil || a.Name != "" || a.Address != from {
		return Config{}, fmt.Errorf("MAIL_FROM %q must be a bare address such as messages@example.com", from)
	}
	c.From = from
	return c, nil
}

// Sender sends Messages over one SMTP configuration.
type Sender struct{ c Config }

// NewSender returns a Sender for c.
func NewSender(c Config) *Sender { return &Sender{c: c} }

// From is the address mail is sent from.
func (s *Sender) From() string { return s.c.From }

// reserved are the headers Send sets itself.
var reserved = []string{"from", "to", "cc", "bcc", "subject", "date", "message-id", "content-type",
	"content-transfer-encoding", "mime-version"}

// Send delivers m, on a connection of its own. A server that answers 5xx refuses it for good
// (Permanent reports that); anything else (no answer, 4xx, a dropped connection) may pass on a
// later try.
func (s *Sender) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.c.From); err != nil {
		return fmt.Errorf("mail: from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return &PermanentError{Reason: "address not valid"}
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	if m.ID != "" {
		domain := s.c.From[strings.LastIndexByte(s.c.From, '@')+1:]
		msg.SetMessageIDWithValue(m.ID + "@" + domain)
	} else {
		msg.SetMessageID()
	}
	for k, v := range m.Headers {
		for _, r := range reserved {
			if strings.EqualFold(k, r) {
				return fmt.Errorf("mail: header %s is set by Send", k)
			}
		}
		msg.SetGenHeader(gomail.Header(k), v)
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)

	opts := []gomail.Option{gomail.WithPort(s.c.Port), gomail.WithTimeout(s.c.Timeout)}
	switch s.c.TLS {
	case StartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case ImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case NoTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.c.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.c.Username), gomail.WithPassword(s.c.Password))
	}
	client, err := gomail.NewClient(s.c.Host, opts...)
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		// The server's own words stay out of the error, which River keeps and logs: some servers
		// repeat the address they refused.
		var se *gomail.SendError
		switch {
		case errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 && se.ErrorCode() < 600:
			return &PermanentError{Reason: reasonOf(se), Code: se.ErrorCode()}
		case errors.As(err, &se) && se.ErrorCode() != 0:
			return fmt.Errorf("mail: the server refused for now (%d, %s)", se.ErrorCode(), reasonOf(se))
		case errors.As(err, &se):
			return fmt.Errorf("mail: %s", se.Reason)
		}
		return fmt.Errorf("mail: %w", err)
	}
	return nil
}

// PermanentError is a server's 5xx answer: sending the same message again will not help.
type PermanentError struct {
	Reason string // in a few words, for the people who wrote the message: "address rejected"
	Code   int    // the SMTP reply code, 0 when we refused it ourselves
}

func (e *PermanentError) Error() string {
	return fmt.Sprintf("mail: refused for good (%d): %s", e.Code, e.Reason)
}

// Permanent reports whether err is a refusal that a retry will not change, and its reason.
func Permanent(err error) (reason string, ok bool) {
	var p *PermanentError
	if errors.As(err, &p) {
		return p.Reason, true
	}
	return "", false
}

// reasonOf says in a few words which part of the send the server refused.
func reasonOf(se *gomail.SendError) string {
	switch se.Reason {
	case gomail.ErrSMTPRcptTo:
		return "address rejected"
	case gomail.ErrSMTPMailFrom:
		return "sender refused"
	default:
		return "message refused"
	}
}
