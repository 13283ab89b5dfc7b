package mem

import "fmt"

// Disagreements returns what is wrong between the two stores after a
// write settled: a credential claiming a key that cannot be read, a live
// secret no credential claims, a lock still held. nil when they agree.
func Disagreements(s *Store, k *KeyStore) []string {
	var out []string
	claimed := map[string]bool{}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, c := range s.All() {
		if c.LockToken != "" {
			out = append(out, fmt.Sprintf("credential %s is still locked (%s)", c.ID, c.LockToken))
		}
		if !c.HasAPIKey {
			if c.SecretName != "" || c.KeyVersion != "" || c.APIKeyLastFour != nil {
				out = append(out, fmt.Sprintf("credential %s has no key but names %q/%q", c.ID, c.SecretName, c.KeyVersion))
			}
			continue
		}
		claimed[c.SecretName] = true
		sec, ok := k.secrets[c.SecretName]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("credential %s claims %s, which does not exist", c.ID, c.SecretName))
		case sec.deleted:
			out = append(out, fmt.Sprintf("credential %s claims %s, which is scheduled for deletion", c.ID, c.SecretName))
		case sec.values[c.KeyVersion] == "":
			out = append(out, fmt.Sprintf("credential %s claims %s at %s, which is not readable (current %s)", c.ID, c.SecretName, c.KeyVersion, sec.current))
		}
	}
	for name, sec := range k.secrets {
		if !sec.deleted && !claimed[name] {
			out = append(out, fmt.Sprintf("secret %s is live but no credential claims it", name))
		}
	}
	return out
}
