package storagetest

// signingKeyTests cover the signing-key table.
func signingKeyTests() []conformanceTest { return nil }
