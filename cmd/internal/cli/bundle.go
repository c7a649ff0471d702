package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/credlog/credlog/api"
	"github.com/credlog/credlog/log/bundle"
	"github.com/credlog/credlog/log/keys"
)

// Exit codes of credlog verify, one per failure class of bundle.Verify.
const (
	ExitMalformed   = 3  // bundle.ErrMalformed
	ExitSignature   = 4  // bundle.ErrSignature
	ExitLabel       = 5  // bundle.ErrLabel
	ExitNotLogged   = 6  // bundle.ErrNotLogged
	ExitQuorum      = 7  // bundle.ErrQuorum
	ExitStatusProof = 8  // bundle.ErrStatusProof
	ExitNotActive   = 9  // bundle.ErrNotActive
	ExitStale       = 10 // bundle.ErrStale
)

// verifyExitCodes maps the failure classes of bundle.Verify to exit codes.
var verifyExitCodes = []struct {
	class error
	code  int
}{
	{bundle.ErrMalformed, ExitMalformed},
	{bundle.ErrSignature, ExitSignature},
	{bundle.ErrLabel, ExitLabel},
	{bundle.ErrNotLogged, ExitNotLogged},
	{bundle.ErrQuorum, ExitQuorum},
	{bundle.ErrStatusProof, ExitStatusProof},
	{bundle.ErrNotActive, ExitNotActive},
	{bundle.ErrStale, ExitStale},
}

// maxBundleFile bounds the size of a bundle or policy file.
const maxBundleFile = bundle.MaxSize

// defaultMaxAge is the default freshness bound of credlog verify.
const defaultMaxAge = time.Hour

var bundleCommand = &command{
	name:     "bundle",
	synopsis: "-log URL -cert FILE [-issuer NAME] -out FILE [-wait D]",
	summary:  "fetch or refresh a credential's bundle from a log",
	doc: `
Bundle fetches, from the log at URL, what a holder shows an app to prove
a credential logged and active (docs/BUNDLE.md): the issue event naming
the certificate's hash with its tlog-proof (GET /lookup/credential), and
the status proof against the log's latest map-root entry (GET
/map/credential). It writes the certificate and both to -out, replacing
the file if it exists: run it again to refresh the status proof.

-issuer defaults to the issuer named in the certificate. When the log has
the issue event but no published checkpoint or map-root entry covers it
yet, bundle asks again until -wait has passed. It checks nothing
cryptographically: credlog verify does.`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var logURL, cert, issuer, out string
		var wait time.Duration
		fs.StringVar(&logURL, "log", "", "the log's `URL`")
		fs.StringVar(&cert, "cert", "", "the credential certificate `file` (DER or PEM)")
		fs.StringVar(&issuer, "issuer", "", "the issuer's `name` (default: the certificate's issuer)")
		fs.StringVar(&out, "out", "", "the bundle `file` to write")
		fs.DurationVar(&wait, "wait", 30*time.Second, "how long to wait for the log to cover the issue event")
		return func(e *env, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if err := requireFlags("log", logURL, "cert", cert, "out", out); err != nil {
				return err
			}
			return fetchBundle(e, logURL, cert, issuer, out, wait)
		}
	},
}

// fetchBundle fetches the bundle of the certificate at certPath from the
// log at logURL and writes it to out.
func fetchBundle(e *env, logURL, certPath, issuer, out string, wait time.Duration) error {
	cred, err := readCredential(certPath)
	if err != nil {
		return err
	}
	if issuer == "" {
		issuer = cred.Issuer
	}
	c, err := api.NewClient(logURL, nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait+30*time.Second)
	defer cancel()
	deadline := time.Now().Add(wait)
	var b *bundle.Bundle
	for {
		b, err = c.Bundle(ctx, cred.DER, issuer)
		if err == nil {
			break
		}
		if !errors.Is(err, api.ErrNotReady) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := replaceFile(out, b.Marshal()); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s\n", out)
	return nil
}

// replaceFile writes data to path through a temporary file in the same
// directory, renamed over path once synced.
func replaceFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	return nil
}

var verifyCommand = &command{
	name:     "verify",
	synopsis: "-bundle FILE -policy FILE -issuer-key NAME.vkey -vrf-key NAME.vrf.pub [-max-age D]",
	summary:  "check a credential bundle offline",
	doc: `
Verify checks a credential bundle offline (docs/BUNDLE.md): the
certificate is signed by the issuer's key; its VRF proof maps its ID
number to the subject label of the logged issue event; that event names
the certificate's hash and is signed by the issuer; it is in a checkpoint
signed by a log of the policy (a c2sp.org/tlog-policy file) and cosigned
by the policy's witness quorum; so is the status proof's map-root entry,
whose map proof shows the credential active; and that entry is at most
-max-age old.

It exits 0 if all of this holds. Otherwise it prints one line saying why,
and exits with the code of the failure:

  3   the bundle is malformed
  4   the certificate or issue event is not signed by the issuer
  5   the VRF proof does not give the logged subject label
  6   the credential is not logged (or its proof does not verify)
  7   a checkpoint lacks the policy's witness quorum
  8   the status proof does not verify
  9   the credential is not active (suspended, revoked or superseded)
  10  the status proof is older than -max-age

1 is any other failure (an unreadable file), 2 a usage error.`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var bundlePath, policyPath, keyPath, vrfPath string
		maxAge := defaultMaxAge
		fs.StringVar(&bundlePath, "bundle", "", "the bundle `file`")
		fs.StringVar(&policyPath, "policy", "", "the tlog-policy `file`: log key, witnesses, quorum")
		fs.StringVar(&keyPath, "issuer-key", "", "the issuer's verifier key `file` (NAME.vkey)")
		fs.StringVar(&vrfPath, "vrf-key", "", "the issuer's VRF public key `file` (NAME.vrf.pub)")
		fs.DurationVar(&maxAge, "max-age", defaultMaxAge, "the oldest status proof accepted")
		return func(e *env, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if err := requireFlags("bundle", bundlePath, "policy", policyPath, "issuer-key", keyPath, "vrf-key", vrfPath); err != nil {
				return err
			}
			if maxAge <= 0 {
				return usagef("-max-age must be positive, got %v", maxAge)
			}
			return verifyBundle(e, bundlePath, policyPath, keyPath, vrfPath, maxAge)
		}
	},
}

// verifyBundle runs credlog verify.
func verifyBundle(e *env, bundlePath, policyPath, keyPath, vrfPath string, maxAge time.Duration) error {
	pol, err := readPolicy(policyPath)
	if err != nil {
		return err
	}
	kb, err := readFile(keyPath, maxKeyFile)
	if err != nil {
		return fmt.Errorf("couldn't read issuer key: %w", err)
	}
	if err := checkKind(keyPath, kb, kindVerifier); err != nil {
		return err
	}
	v, err := keys.ParseVerifier(string(kb))
	if err != nil {
		return fmt.Errorf("couldn't parse issuer key %s: %w", keyPath, err)
	}
	vrfPub, err := issuerVRFPublic(v.Name, "", vrfPath)
	if err != nil {
		return err
	}
	bb, err := readFile(bundlePath, maxBundleFile)
	if err != nil {
		return fmt.Errorf("couldn't read bundle: %w", err)
	}
	b, err := bundle.Parse(bb)
	if err == nil {
		var res *bundle.Result
		res, err = bundle.Verify(b, pol, bundle.IssuerKeys{Name: v.Name, PublicKey: v.Public, VRFKey: vrfPub}, e.now(), maxAge)
		if err == nil {
			fmt.Fprintf(e.stdout, "OK: credential %x of %s is logged at index %d of %s and active as of map-root entry %d (%s)\n",
				res.Credential.ID, v.Name, res.IssueIndex, res.Origin, res.MapRootIndex, res.MapRootTime.UTC().Format(time.RFC3339))
			return nil
		}
	}
	for _, c := range verifyExitCodes {
		if errors.Is(err, c.class) {
			return &exitError{code: c.code, err: err}
		}
	}
	return err
}
