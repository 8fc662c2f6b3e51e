package projections

// DecodeFast and DecodeStrict expose Decode's two paths to the tests, which
// check that the fast one accepts nothing the strict one does not and
// decodes it the same way.
func DecodeFast(raw []byte) (Event, bool) {
	var uncached *Decoder
	return uncached.decodeFast(raw)
}

func DecodeStrict(raw []byte) (Event, error) {
	var uncached *Decoder
	return uncached.decodeStrict(raw)
}

// ValidJSON and MaxValidDepth, MaxValidNames expose the fast path's
// check and where it declines, to hold it to jsontext.
var ValidJSON = validJSON

const MaxValidDepth, MaxValidNames = maxValidDepth, maxValidNames
