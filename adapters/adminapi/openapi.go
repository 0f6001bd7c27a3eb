package adminapi

//go:generate go test . -run TestOpenAPIFiles -update

// Documents returns the API's OpenAPI document in YAML, as 3.1 and as its
// 3.0.3 downgrade (for generators that do not read 3.1 yet). They are what
// the committed openapi.yaml and openapi-3.0.yaml hold.
func Documents() (v31, v30 []byte, err error) {
	s, err := New(Options{})
	if err != nil {
		return nil, nil, err
	}
	if v31, err = s.OpenAPI().YAML(); err != nil {
		return nil, nil, err
	}
	if v30, err = s.OpenAPI().DowngradeYAML(); err != nil {
		return nil, nil, err
	}
	return v31, v30, nil
}
