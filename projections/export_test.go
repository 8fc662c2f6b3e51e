package projections

// DecodeFast and DecodeStrict expose Decode's two paths to the tests, which
// check that the fast one accepts nothing the strict one does not and
// decodes it the same way.
var (
	DecodeFast   = decodeFast
	DecodeStrict = decodeStrict
)
