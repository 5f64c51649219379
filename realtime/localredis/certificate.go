package localredis

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// NewCertificate writes under dir (as name.crt, name.key and, for a CA-signed one, name-ca.crt)
// an ECDSA key and a certificate for 127.0.0.1 that is valid for a day. selfSigned makes it sign
// itself, as a hosted Redis's often does; otherwise a CA made for it signs it, whose certificate
// a client can be told to trust.
func NewCertificate(dir, name string, selfSigned bool) (TLS, error) {
	t := TLS{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key")}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return t, fmt.Errorf("localredis: certificate key: %w", err)
	}
	now := time.Now()
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localredis " + name},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, signer := leaf, key
	if selfSigned {
		t.CAFile = t.CertFile
	} else {
		t.CAFile = filepath.Join(dir, name+"-ca.crt")
		if signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return t, fmt.Errorf("localredis: CA key: %w", err)
		}
		parent = &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "localredis " + name + " CA"},
			NotBefore:             leaf.NotBefore,
			NotAfter:              leaf.NotAfter,
			KeyUsage:              x509.KeyUsageCertSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		der, err := x509.CreateCertificate(rand.Reader, parent, parent, &signer.PublicKey, signer)
		if err != nil {
			return t, fmt.Errorf("localredis: CA certificate: %w", err)
		}
		if err := writePEM(t.CAFile, "CERTIFICATE", der); err != nil {
			return t, err
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, parent, &key.PublicKey, signer)
	if err != nil {
		return t, fmt.Errorf("localredis: certificate: %w", err)
	}
	if err := writePEM(t.CertFile, "CERTIFICATE", der); err != nil {
		return t, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return t, fmt.Errorf("localredis: certificate key: %w", err)
	}
	return t, writePEM(t.KeyFile, "PRIVATE KEY", keyDER)
}

func writePEM(path, kind string, der []byte) error {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("localredis: %w", err)
	}
	return nil
}
