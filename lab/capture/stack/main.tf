# The lab stack: a broad AWS surface for drift capture against moto. Every
# resource type here is one moto applies and reads back faithfully enough
# for a clean refresh (lab/capture/README.md lists them and why).
resource "aws_kms_key" "data" {
  description             = "lab data key"
  deletion_window_in_days = 7
  enable_key_rotation     = true
}

resource "aws_kms_alias" "data" {
  name          = "alias/lab-data"
  target_key_id = aws_kms_key.data.key_id
}

module "bucket" {
  source      = "./modules/bucket"
  for_each    = toset(["logs", "assets"])
  name        = each.key
  kms_key_arn = aws_kms_key.data.arn
}

module "queue" {
  source     = "./modules/queue"
  for_each   = var.queues
  name       = each.key
  kms_key_id = aws_kms_key.data.key_id
}

resource "aws_dynamodb_table" "sessions" {
  name         = "lab-sessions"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}

resource "aws_ssm_parameter" "db_password" {
  name  = "/lab/db/password"
  type  = "SecureString"
  value = var.db_password
}

resource "aws_ssm_parameter" "feature" {
  name  = "/lab/feature/flags"
  type  = "String"
  value = "audit=on"
}

resource "aws_secretsmanager_secret" "api" {
  name       = "lab/api-token"
  kms_key_id = aws_kms_key.data.arn
}

resource "aws_secretsmanager_secret_version" "api" {
  secret_id     = aws_secretsmanager_secret.api.id
  secret_string = var.api_token
}

resource "aws_cloudwatch_log_group" "app" {
  name              = "/lab/app"
  retention_in_days = 90
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "lab-errors"
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 1
  metric_name         = "Errors"
  namespace           = "AWS/Lambda"
  period              = 60
  statistic           = "Sum"
  threshold           = 5
  alarm_actions       = [module.queue["orders"].topic_arn]
}

resource "aws_kinesis_stream" "events" {
  name             = "lab-events"
  shard_count      = 1
  retention_period = 24
  encryption_type  = "KMS"
  kms_key_id       = aws_kms_key.data.id
}

resource "aws_ecr_repository" "app" {
  name                 = "lab-app"
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
}

resource "aws_ecr_lifecycle_policy" "app" {
  repository = aws_ecr_repository.app.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep 10"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 10 }
      action       = { type = "expire" }
    }]
  })
}

resource "aws_route53_zone" "internal" {
  name = "lab.internal"
}

resource "aws_route53_record" "api" {
  zone_id = aws_route53_zone.internal.zone_id
  name    = "api.lab.internal"
  type    = "A"
  ttl     = 300
  records = ["10.90.1.10"]
}

resource "aws_cloudwatch_event_rule" "nightly" {
  name                = "lab-nightly"
  schedule_expression = "cron(0 3 * * ? *)"
}

resource "aws_cloudwatch_event_target" "nightly" {
  rule = aws_cloudwatch_event_rule.nightly.name
  arn  = module.queue["orders"].queue_arn
}
