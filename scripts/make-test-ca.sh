#!/usr/bin/env bash
# Make a certificate authority and certificates for a flinc cluster's TLS
# (security.ssl.*, docs/security.md), with openssl. For tests and trials:
# the CA's key sits beside its certificate, unencrypted.
#
#   scripts/make-test-ca.sh DIR [NAME[,NAME...]]...
#
# In DIR:
#   ca.pem, ca.key            the cluster's CA (security.ssl.truststore: ca.pem)
#   NODE.pem, NODE.key        one certificate and key per NAME argument, signed
#                             by the CA, for server and client use (TLS here
#                             authenticates both sides); NAME is a list of host
#                             names and IP addresses, the first names the files
#                             ("jm,127.0.0.1,10.77.0.10" -> jm.pem, jm.key)
#   rogue-ca.pem, rogue-ca.key  another CA, and
#   rogue.pem, rogue.key      a certificate it signed for 127.0.0.1 and
#                             localhost: what a stranger to the cluster has
#   expired.pem, expired.key  a certificate of the CA that expired yesterday
#
# Without NAME arguments: one certificate "node" for localhost and
# 127.0.0.1. Every IP address is put in the certificate twice, as an IP
# address and as a DNS name: mbed TLS 2.28 (flinc's TLS) checks host names
# only against DNS names and the common name.
#
# Keys are ECDSA P-256 (fast handshakes); certificates valid for 10 days
# (the CA for 30): they are for tests. Exit 0, or 1 with one line.
set -euo pipefail

if [ $# -lt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
  [ $# -lt 1 ] && exit 2 || exit 0
fi
command -v openssl >/dev/null || { echo "make-test-ca: openssl is not installed (apt-get install openssl)" >&2; exit 1; }

dir=$1
shift
mkdir -p "$dir"
cd "$dir"
umask 077

ca() { # NAME CN
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/O=flinc test/CN=$2" -keyout "$1.key" -out "$1.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
}

# leaf FILE CA NAMES [openssl x509 date options]
leaf() {
  local file=$1 caname=$2 names=$3
  shift 3
  local cn=${names%%,*} san="" n
  IFS=, read -ra list <<<"$names"
  for n in "${list[@]}"; do
    [ -n "$n" ] || continue
    if [[ $n =~ ^[0-9.]+$ || $n == *:* ]]; then
      san+="IP:$n,DNS:$n,"
    else
      san+="DNS:$n,"
    fi
  done
  san=${san%,}
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/O=flinc test/CN=$cn" -keyout "$file.key" -out "$file.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' \
    "$san" >"$file.ext"
  openssl x509 -req -in "$file.csr" -CA "$caname.pem" -CAkey "$caname.key" -CAcreateserial \
    -extfile "$file.ext" -out "$file.pem" "$@" 2>/dev/null
  rm -f "$file.csr" "$file.ext"
}

ca ca "flinc test CA"
ca rogue-ca "flinc rogue CA"

[ $# -gt 0 ] || set -- "node,localhost,127.0.0.1"
for spec in "$@"; do
  file=${spec%%,*}
  [[ $file =~ ^[A-Za-z0-9._-]+$ ]] || { echo "make-test-ca: '$file' is not a file name" >&2; exit 1; }
  case $file in ca | rogue-ca | rogue | expired) echo "make-test-ca: '$file' is a name this script uses" >&2; exit 1 ;; esac
  leaf "$file" ca "$spec" -days 10
done
leaf rogue rogue-ca "rogue,localhost,127.0.0.1" -days 10
# Expired: valid from 3 days ago to yesterday (openssl 3's x509 -req has
# no -not_before, so the dates come from a CA signing with fixed dates).
if openssl x509 -help 2>&1 | grep -q -- '-not_before'; then
  leaf expired ca "expired,localhost,127.0.0.1" -not_before "$(date -u -d '3 days ago' +%Y%m%d%H%M%SZ)" \
    -not_after "$(date -u -d '1 day ago' +%Y%m%d%H%M%SZ)"
else
  mkdir -p .expired-ca/new
  : >.expired-ca/index.txt
  printf '%s\n' 1000 >.expired-ca/serial
  cat >.expired-ca/ca.cnf <<EOF
[ca]
default_ca = c
[c]
dir = .expired-ca
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
default_md = sha256
policy = p
copy_extensions = copy
[p]
commonName = supplied
EOF
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=flinc test/CN=expired" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:127.0.0.1" \
    -addext "extendedKeyUsage=serverAuth,clientAuth" -keyout expired.key -out expired.csr 2>/dev/null
  openssl ca -batch -config .expired-ca/ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
    -startdate "$(date -u -d '3 days ago' +%y%m%d%H%M%SZ)" -enddate "$(date -u -d '1 day ago' +%y%m%d%H%M%SZ)" \
    -notext 2>/dev/null
  rm -rf .expired-ca expired.csr
fi
rm -f ./*.srl
chmod 0644 ./*.pem
echo "make-test-ca: CA and certificates in $(pwd)"
