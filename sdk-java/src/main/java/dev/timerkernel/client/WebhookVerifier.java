package dev.timerkernel.client;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Checks the {@code Timer-Signature} header of a callback request: {@code t=<unix
 * seconds>,v1=<hex>}, where the hex is HMAC-SHA256 over {@code "<t>."} followed by the raw
 * body, keyed with the service's signing secret.
 *
 * <p>A request is accepted when its timestamp is within the tolerance of the receiver's clock
 * (either way) and any {@code v1} matches any of the receiver's secrets, so a secret can be
 * replaced without refusing requests meanwhile. Signatures are compared in constant time.
 * Instances are immutable and safe to share between threads.
 */
public final class WebhookVerifier {
    /** The header that carries the signature. */
    public static final String SIGNATURE_HEADER = "Timer-Signature";

    /** The default tolerance between the signature's timestamp and the receiver's clock. */
    public static final Duration DEFAULT_TOLERANCE = Duration.ofMinutes(5);

    private static final String ALGORITHM = "HmacSHA256";

    private final List<byte[]> secrets;
    private final Duration tolerance;
    private final Clock clock;

    private WebhookVerifier(Builder builder) {
        if (builder.secrets.isEmpty()) {
            throw new IllegalStateException("a verifier needs at least one secret");
        }

        this.secrets = List.copyOf(builder.secrets);
        this.tolerance = builder.tolerance;
        this.clock = builder.clock;
    }

    /**
     * A verifier with the default tolerance and the system clock.
     *
     * @param secrets the signing secrets to accept, at least one
     * @return the verifier
     */
    public static WebhookVerifier of(String... secrets) {
        return builder().secrets(Arrays.asList(secrets)).build();
    }

    /**
     * @return a builder with the default tolerance and the system clock, and no secret yet
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Checks a request's signature.
     *
     * @param header the {@code Timer-Signature} header, or null if the request had none
     * @param body the raw request body, exactly as received
     * @throws WebhookSignatureException if the request is to be refused, saying why
     */
    public void verify(String header, byte[] body) {
        Objects.requireNonNull(body, "body");
        if (header == null || header.isBlank()) {
            throw new WebhookSignatureException("the request has no " + SIGNATURE_HEADER + " header");
        }

        String timestamp = null;
        List<String> signatures = new ArrayList<>();
        for (String part : header.split(",", -1)) {
            int equals = part.indexOf('=');
            if (equals < 0) {
                continue;
            }

            String key = part.substring(0, equals).trim();
            String value = part.substring(equals + 1).trim();
            if (key.equals("t")) {
                if (timestamp != null) {
                    throw new WebhookSignatureException("the signature has more than one timestamp");
                }

                timestamp = value;
            } else if (key.equals("v1")) {
                signatures.add(value);
            }
        }

        long seconds = parseTimestamp(timestamp);
        if (signatures.isEmpty()) {
            throw new WebhookSignatureException("the signature has no v1 value");
        }

        Duration skew = Duration.between(Instant.ofEpochSecond(seconds), clock.instant())
                .abs();
        if (skew.compareTo(tolerance) > 0) {
            throw new WebhookSignatureException("the signature's timestamp is " + skew.getSeconds()
                    + " s from now, over the tolerance of " + tolerance.getSeconds() + " s");
        }

        byte[] signed = signedBytes(seconds, body);
        for (byte[] secret : secrets) {
            byte[] expected = hmac(secret, signed);
            for (String signature : signatures) {
                byte[] given = decodeHex(signature);
                if (given != null && MessageDigest.isEqual(expected, given)) {
                    return;
                }
            }
        }

        throw new WebhookSignatureException("no v1 signature matches the body with any of the secrets");
    }

    /**
     * Checks a request's signature without throwing.
     *
     * @param header the {@code Timer-Signature} header, or null
     * @param body the raw request body
     * @return whether the request is to be accepted
     */
    public boolean isValid(String header, byte[] body) {
        try {
            verify(header, body);
            return true;
        } catch (WebhookSignatureException exc) {
            return false;
        }
    }

    /**
     * Checks a request's signature, then reads its body.
     *
     * @param header the {@code Timer-Signature} header, or null
     * @param body the raw request body
     * @return the delivery
     * @throws WebhookSignatureException if the signature is refused
     * @throws WebhookException if the body is not a delivery
     */
    public CallbackDelivery verifyAndParse(String header, byte[] body) {
        verify(header, body);
        return CallbackDelivery.parse(body);
    }

    /**
     * The header the service sends for a body signed at a timestamp: one {@code v1} per
     * secret, in order. Useful for tests of a receiver.
     *
     * @param timestamp the signing time, in Unix seconds
     * @param body the raw body
     * @param secrets the signing secrets, at least one
     * @return the {@code Timer-Signature} header's value
     */
    public static String sign(long timestamp, byte[] body, List<String> secrets) {
        if (secrets.isEmpty()) {
            throw new IllegalArgumentException("signing needs at least one secret");
        }

        byte[] signed = signedBytes(timestamp, body);
        StringBuilder header = new StringBuilder("t=").append(timestamp);
        for (String secret : secrets) {
            header.append(",v1=").append(encodeHex(hmac(secret.getBytes(StandardCharsets.UTF_8), signed)));
        }

        return header.toString();
    }

    private static long parseTimestamp(String timestamp) {
        if (timestamp == null) {
            throw new WebhookSignatureException("the signature has no timestamp");
        }

        if (!timestamp.matches("[0-9]{1,18}")) {
            throw new WebhookSignatureException("the signature's timestamp is not a number of seconds");
        }

        return Long.parseLong(timestamp);
    }

    private static byte[] signedBytes(long timestamp, byte[] body) {
        byte[] prefix = (timestamp + ".").getBytes(StandardCharsets.US_ASCII);
        byte[] signed = Arrays.copyOf(prefix, prefix.length + body.length);
        System.arraycopy(body, 0, signed, prefix.length, body.length);
        return signed;
    }

    private static byte[] hmac(byte[] secret, byte[] data) {
        try {
            Mac mac = Mac.getInstance(ALGORITHM);
            mac.init(new SecretKeySpec(secret, ALGORITHM));
            return mac.doFinal(data);
        } catch (GeneralSecurityException exc) {
            // Every Java platform must provide HmacSHA256, so this means a broken runtime.
            throw new IllegalStateException("HmacSHA256 is not available", exc);
        }
    }

    private static String encodeHex(byte[] bytes) {
        StringBuilder hex = new StringBuilder(bytes.length * 2);
        for (byte b : bytes) {
            hex.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
        }

        return hex.toString();
    }

    private static byte[] decodeHex(String hex) {
        if (hex.length() % 2 != 0) {
            return null;
        }

        byte[] bytes = new byte[hex.length() / 2];
        for (int i = 0; i < bytes.length; i++) {
            int high = Character.digit(hex.charAt(2 * i), 16);
            int low = Character.digit(hex.charAt(2 * i + 1), 16);
            if (high < 0 || low < 0) {
                return null;
            }

            bytes[i] = (byte) ((high << 4) | low);
        }

        return bytes;
    }

    /** Builds a {@link WebhookVerifier}. */
    public static final class Builder {
        private final List<byte[]> secrets = new ArrayList<>();
        private Duration tolerance = DEFAULT_TOLERANCE;
        private Clock clock = Clock.systemUTC();

        private Builder() {}

        /**
         * Accepts requests signed with this secret, besides those given before.
         *
         * @param secret a signing secret of the service
         * @return this builder
         */
        public Builder secret(String secret) {
            Objects.requireNonNull(secret, "secret");
            if (secret.isEmpty()) {
                throw new IllegalArgumentException("a signing secret cannot be empty");
            }

            secrets.add(secret.getBytes(StandardCharsets.UTF_8));
            return this;
        }

        /**
         * Accepts requests signed with any of these secrets, besides those given before.
         *
         * @param secrets signing secrets of the service
         * @return this builder
         */
        public Builder secrets(Collection<String> secrets) {
            secrets.forEach(this::secret);
            return this;
        }

        /**
         * @param tolerance the largest difference, either way, between the signature's
         *     timestamp and the clock; five minutes unless set
         * @return this builder
         */
        public Builder tolerance(Duration tolerance) {
            if (Objects.requireNonNull(tolerance, "tolerance").isNegative()) {
                throw new IllegalArgumentException("the tolerance cannot be negative");
            }

            this.tolerance = tolerance;
            return this;
        }

        /**
         * @param clock the clock that says what "now" is; the system clock unless set
         * @return this builder
         */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /**
         * @return the verifier
         * @throws IllegalStateException if no secret was given
         */
        public WebhookVerifier build() {
            return new WebhookVerifier(this);
        }
    }
}
