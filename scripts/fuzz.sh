#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz / libFuzzer) of every parser mailroom has.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Runs each target (all of fuzz/fuzz_targets/ by default) for SECONDS (default 60), from
# a seed corpus made of what the repository holds (samples/, the shared MIME corpora,
# rule files, configs from the docs, SNS and XML-RPC examples) plus what earlier runs
# found (fuzz/corpus/TARGET, kept between runs). A crash, a hang (FUZZ_TIMEOUT seconds,
# default 10; libFuzzer counts wall time, so raise it when fuzzing at a low priority
# beside other work: a starved process is not a hang) or running past
# 2 GiB stops the target; its input is in fuzz/artifacts/TARGET/, and the script exits
# non-zero naming it. Needs the nightly toolchain and cargo-fuzz (installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo +nightly fuzz --version >/dev/null 2>&1 || cargo +nightly install cargo-fuzz --locked

seeds="fuzz/seeds"
make_seeds() {
    rm -rf "$seeds"
    mkdir -p "$seeds"/{mail,text,rules,config,sns,xmlrpc,der,http}
    # Mail: every sample and the public odd-MIME corpora.
    find samples ../shared/corpora -type f \( -name '*.eml' -o -name '*.txt' -o -name '*.mbox' \) 2>/dev/null |
        head -2000 | while read -r f; do cp "$f" "$seeds/mail/$(echo "$f" | md5sum | cut -c1-16)"; done
    # Payload text (JSON, XML, Python literals): the bodies of the samples.
    for f in samples/*.eml samples/*/*.eml; do
        [ -f "$f" ] && sed '1,/^\r\{0,1\}$/d' "$f" >"$seeds/text/$(echo "$f" | md5sum | cut -c1-16)"
    done
    cp rules/*.toml "$seeds/rules/" 2>/dev/null || true
    # Configs: the commented example of docs/CONFIGURATION.md, whole and by table.
    awk '/^```toml/{on=1;n++;next}/^```/{on=0}on{print >"'"$seeds"'/config/doc" n ".toml"}' docs/CONFIGURATION.md
    cat >"$seeds/sns/notification.json" <<'JSON'
{"Type":"Notification","MessageId":"22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324","TopicArn":"arn:aws:sns:us-west-2:123456789012:MyTopic","Subject":"My First Message","Message":"{'platform': 'production', 'domain': 'pizzza.xyz', 'source_notification': 'domain.transfer_out_done_reselle'}","Timestamp":"2012-05-02T00:54:06.655Z","SignatureVersion":"1","Signature":"EXAMPLEw6JRN","SigningCertURL":"https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem","UnsubscribeURL":"https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe"}
JSON
    cat >"$seeds/sns/confirmation.json" <<'JSON'
{"Type":"SubscriptionConfirmation","MessageId":"165545c9-2a5c-472c-8df2-7ff2be2b3b1b","Token":"2336412f37","TopicArn":"arn:aws:sns:us-west-2:123456789012:MyTopic","Message":"You have chosen to subscribe","SubscribeURL":"https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37","Timestamp":"2012-04-26T20:45:04.751Z","SignatureVersion":"2","Signature":"EXAMPLEpH+","SigningCertURL":"https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"}
JSON
    printf '<?xml version="1.0"?>\n<methodResponse><params><param><value><array><data><value><struct><member><name>name</name><value><string>domain.transfer_out</string></value></member><member><name>active</name><value><boolean>1</boolean></value></member><member><name>channels</name><value><array><data><value><struct><member><name>name</name><value><string>sns</string></value></member><member><name>status</name><value><string>active</string></value></member></struct></value></data></array></value></member></struct></value></data></array></value></param></params></methodResponse>\n' >"$seeds/xmlrpc/list.xml"
    printf '<?xml version="1.0"?>\n<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>510150</int></value></member><member><name>faultString</name><value><string>Error on object : OBJECT_ACCOUNT (CAUSE_NORIGHT) [Invalid API key]</string></value></member></struct></value></fault></methodResponse>\n' >"$seeds/xmlrpc/fault.xml"
    if command -v openssl >/dev/null; then
        openssl req -x509 -newkey rsa:2048 -nodes -keyout /dev/null -subj /CN=sns.amazonaws.com \
            -days 1 -outform DER -out "$seeds/der/cert.der" 2>/dev/null || true
    fi
    printf 'q=%%C3%%BCber+alles&page=2&next=%%2Fevents%%3Fa%%3Db' >"$seeds/http/query"
}
[ -n "${FUZZ_KEEP_SEEDS:-}" ] && [ -d "$seeds" ] || make_seeds

seed_dirs() {
    case "$1" in
        extract) echo "$seeds/mail" ;;
        pyliteral | xml | text_forms | scan) echo "$seeds/text $seeds/mail" ;;
        rules) echo "$seeds/rules" ;;
        config) echo "$seeds/config" ;;
        sns) echo "$seeds/sns" ;;
        xmlrpc) echo "$seeds/xmlrpc" ;;
        der) echo "$seeds/der" ;;
        http_query) echo "$seeds/http" ;;
        *) echo "$seeds/text" ;;
    esac
}

failed=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    echo "== $t: ${seconds}s" >&2
    # shellcheck disable=SC2046
    # Optimised with overflow checks but without debug assertions: mail-parser 0.11 has a
    # `debug_assert!` on a state it then recovers from (finding "extract-1" in
    # docs/RELIABILITY.md); the build that ships has no debug assertions, so neither has
    # the one fuzzed. mailroom's own code has none.
    if ! RUSTFLAGS="${RUSTFLAGS:-} -Coverflow-checks=on" \
        cargo +nightly fuzz run -O "$t" "fuzz/corpus/$t" $(seed_dirs "$t") -- \
        -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 -max_len=262144 \
        -print_final_stats=1 2>"fuzz/$t.log"; then
        failed+=("$t")
        tail -40 "fuzz/$t.log" >&2
    fi
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "fuzz/$t.log" | sed "s/^/$t /" >&2 || true
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: findings in ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} target(s), ${seconds}s each, nothing found" >&2
