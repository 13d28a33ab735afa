package reactor

// What the external tests (package reactor_test, which may import
// loomtest) need of the package's internals.
var (
	TLSFieldsFound    = tlsFields.ok
	ReleaseTLSBuffers = releaseTLSBuffers
	TLSBuffered       = tlsBuffered
)

const TLSKeep = tlsKeep
