"""AWS list prices, us-east-1, the only place the bench keeps them (checked 2026; free tiers ignored).

Sources:
- DynamoDB on-demand: https://aws.amazon.com/dynamodb/pricing/on-demand/ ($0.625 per million write
  request units, $0.125 per million read request units, since the price cut of 1 November 2024).
- Lambda: https://aws.amazon.com/lambda/pricing/ (Arm: $0.0000133334 per GB-second; $0.20 per million
  requests). The template's functions run on arm64.
- S3 Standard: https://aws.amazon.com/s3/pricing/ (PUT, COPY, POST, LIST: $0.005 per 1,000;
  GET and all other requests: $0.0004 per 1,000; DELETE is free).
- SQS standard queues: https://aws.amazon.com/sqs/pricing/ ($0.40 per million requests; each 64 KB
  chunk of a request's payload is billed as one request).
- SES: https://aws.amazon.com/ses/pricing/ ($0.10 per 1,000 mails, per recipient).
- Secrets Manager: https://aws.amazon.com/secrets-manager/pricing/ ($0.05 per 10,000 API calls).
"""

from __future__ import annotations

DYNAMODB_WRU_USD = 0.625 / 1_000_000
DYNAMODB_RRU_USD = 0.125 / 1_000_000
LAMBDA_GB_SECOND_USD = 0.0000133334  # arm64
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
S3_PUT_CLASS_USD = 0.005 / 1_000  # PUT, COPY, POST, LIST (multipart parts are PUTs)
S3_GET_CLASS_USD = 0.0004 / 1_000  # GET, HEAD and every other billed request
SQS_REQUEST_USD = 0.40 / 1_000_000  # per 64 KB chunk
SES_MAIL_USD = 0.10 / 1_000
SECRETS_MANAGER_CALL_USD = 0.05 / 10_000

# Billing units
DYNAMODB_READ_UNIT_BYTES = 4096  # one strongly consistent read (half a unit eventually consistent)
DYNAMODB_WRITE_UNIT_BYTES = 1024
SQS_CHUNK_BYTES = 64 * 1024
LAMBDA_BILLED_MS = 1  # durations are billed rounded up to the millisecond
