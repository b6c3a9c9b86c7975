# One queue and its topic: an SQS queue with a policy, an SNS topic with a
# policy and the subscription between them, instantiated with for_each over
# string keys.
variable "name" {
  type = string
}

variable "kms_key_id" {
  type = string
}

resource "aws_sqs_queue" "this" {
  name                       = "lab-${var.name}"
  visibility_timeout_seconds = 30
  message_retention_seconds  = 345600
  kms_master_key_id          = var.kms_key_id
  tags                       = { Name = var.name }
}

resource "aws_sns_topic" "this" {
  name              = "lab-${var.name}-events"
  kms_master_key_id = var.kms_key_id
}

resource "aws_sqs_queue_policy" "this" {
  queue_url = aws_sqs_queue.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "FromTopic"
      Effect    = "Allow"
      Principal = { Service = "sns.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.this.arn
      Condition = { ArnEquals = { "aws:SourceArn" = aws_sns_topic.this.arn } }
    }]
  })
}

resource "aws_sns_topic_policy" "this" {
  arn = aws_sns_topic.this.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "OwnerPublish"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::123456789012:root" }
      Action    = ["sns:Publish"]
      Resource  = aws_sns_topic.this.arn
    }]
  })
}

resource "aws_sns_topic_subscription" "this" {
  topic_arn = aws_sns_topic.this.arn
  protocol  = "sqs"
  endpoint  = aws_sqs_queue.this.arn
}

output "queue_arn" {
  value = aws_sqs_queue.this.arn
}

output "topic_arn" {
  value = aws_sns_topic.this.arn
}
