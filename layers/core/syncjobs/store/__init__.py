"""The only code that talks to AWS: DynamoDB, S3, SQS, SES, Secrets Manager, SSM.

It knows table keys and bucket layouts and turns `ClientError`s into the domain errors of
`syncjobs.store.errors`, so the engine and workflows read like the problem, not like boto3.
"""
