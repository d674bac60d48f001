"""Schemathesis hooks for certgate's admin API fuzzing (tests/operability, the OpenAPI fuzzer).

The API's schema names string formats no generator knows: `pem-certificates` (a route's
`upstream_ca_pem` and `client_auth.ca_pem`: one or more PEM certificates and nothing else),
`pem-crls` (`client_auth.crl_pem`: one or more PEM CRLs) and `ip-network` (`ip_rules` entries). This teaches the fuzzer to make valid
ones, so a schema-valid body is one the server must accept. The certificates and the CRL are
throw-away (no key is kept anywhere).
"""

import schemathesis
from hypothesis import strategies as st

CA_1 = """\
-----BEGIN CERTIFICATE-----
MIIBkDCCATegAwIBAgIUUVtYRu6v8i0cNJ0qkyQhDkfEphIwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSY2VydGdhdGUgZnV6eiBDQSAxMCAXDTI2MTIwNDIxMDUxMloY
DzIxMjYxMTEwMjEwNTEyWjAdMRswGQYDVQQDDBJjZXJ0Z2F0ZSBmdXp6IENBIDEw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAT6q3fdXfV531h9ReCoATOaJ5X9gF2Q
PiZteEcO3CBlQKGji4JqDdq7rahiihCoO3PPuNwDz2dq2MSsyfJjGlv3o1MwUTAd
BgNVHQ4EFgQUAlvUgqktkajK5mHU06PchNVuQMcwHwYDVR0jBBgwFoAUAlvUgqkt
kajK5mHU06PchNVuQMcwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBE
AiBGE7Pgw8XLcrZzuIr6OO0aTsaJ5WxfZYoDXXxcTYyYgAIgd87EW04PESEIPNIJ
KvMMbsNMq57CVcP02d1crpSIcGM=
-----END CERTIFICATE-----
"""

CA_2 = """\
-----BEGIN CERTIFICATE-----
MIIBkjCCATegAwIBAgIUV3E9W+aCu73ZRHeuCqBV3KK1JJgwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSY2VydGdhdGUgZnV6eiBDQSAyMCAXDTI2MTIwNDIxMDUxMloY
DzIxMjYxMTEwMjEwNTEyWjAdMRswGQYDVQQDDBJjZXJ0Z2F0ZSBmdXp6IENBIDIw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATdI2RJ/uXiheYnOiD5mKCsCb3q5SMq
ZSFQjb27IDqXUFO3AjmTmDZtJoAGlOaYTJuUPvJYs0oQJ3hEG76Ac8eOo1MwUTAd
BgNVHQ4EFgQUhIKm9/zcEsFnjQLh4d6DgDiCd0MwHwYDVR0jBBgwFoAUhIKm9/zc
EsFnjQLh4d6DgDiCd0MwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBG
AiEA3DtJ+FIeTfdinlYh9+cmf91CAPer8J4OVzikVVoGRAkCIQCzh0ekPyVbhHvx
xMpwBqGmt3vU57+NVxkbae9Wsym6EQ==
-----END CERTIFICATE-----
"""

CRL = """\
-----BEGIN X509 CRL-----
MIG4MGACAQEwCgYIKoZIzj0EAwIwHzEdMBsGA1UEAwwUY2VydGdhdGUtZnV6ei1j
cmwtQ0EXDTI2MTIwNTAwMjI1NVoYDzIxMjYxMTExMDAyMjU1WqAOMAwwCgYDVR0U
BAMCAQEwCgYIKoZIzj0EAwIDSAAwRQIhAIxhlt7MAz1D+2JLtzkNSUp+lN2sNEVo
Neqx/SPqQzMwAiB914/pXAQgex99k6TOpTOAh0Q57XsoUtYauB1XvBHjTg==
-----END X509 CRL-----
"""

schemathesis.openapi.format("pem-crls", st.just(CRL))

# `ip_rules` entries: a CIDR or a single address, either family.
schemathesis.openapi.format(
    "ip-network",
    st.sampled_from(["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1", "0.0.0.0/0"]),
)

schemathesis.openapi.format(
    "pem-certificates",
    st.sampled_from([CA_1, CA_2, CA_1 + CA_2]),
)
