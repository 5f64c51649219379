package mail

import (
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url, from string
		want      Config // Timeout is not compared
		problem   string // in the error; "" for none
	}{
		{"smtp://user:p%40ss@mail.example.com:587", "messages@example.com",
			Config{Host: "mail.example.com", Port: 587, Username: "user", Password: "p@ss", TLS: StartTLS, From: "messages@example.com"}, ""},
		{"smtp://mail.example.com", "m@example.com", Config{Host: "mail.example.com", Port: 587, TLS: StartTLS, From: "m@example.com"}, ""},
		{"smtps://apikey:secret@smtp.example.com", "m@example.com",
			Config{Host: "smtp.example.com", Port: 465, Username: "apikey", Password: "secret", TLS: ImplicitTLS, From: "m@example.com"}, ""},
		{"smtp://127.0.0.1:1025?tls=none", "m@localhost", Config{Host: "127.0.0.1", Port: 1025, TLS: NoTLS, From: "m@localhost"}, ""},
		{"smtps://h:465?tls=none", "m@example.com", Config{}, `option "tls" is not known`},
		{"smtp://h:99999", "m@example.com", Config{}, "port"},
		{"mailto:someone@example.com", "m@example.com", Config{}, "must look like"},
		{"http://h", "m@example.com", Config{}, `scheme "http"`},
		{"smtp://h", "", Config{}, "MAIL_FROM is not set"},
		{"smtp://h", "Clinic <m@example.com>", Config{}, "bare address"},
	}
	for _, tc := range cases {
		got, err := ParseConfig(tc.url, tc.from)
		if tc.problem != "" {
			if err == nil || !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("%s %s: error %v, want one saying %q", tc.url, tc.from, err, tc.problem)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("%s: the error repeats the password", tc.url)
			}
			continue
		}
		got.Timeout = 0
		if err != nil || got != tc.want {
			t.Errorf("%s %s: %+v, %v; want %+v", tc.url, tc.from, got, err, tc.want)
		}
	}
}

// Send refuses to let a caller set the headers it owns, so no caller can put a name in From.
func TestSendRefusesReservedHeaders(t *testing.T) {
	t.Parallel()
	s := NewSender(Config{Host: "127.0.0.1", Port: 1, TLS: NoTLS, From: "m@example.com"})
	err := s.Send(t.Context(), Message{To: "a@example.com", Subject: "s", Text: "t", Headers: map[string]string{"From": "Clinic <m@example.com>"}})
	if err == nil || !strings.Contains(err.Error(), "set by Send") {
		t.Errorf("error %v, want the From header refused", err)
	}
}
