# Compute: an instance with its volume, a launch template, a Lambda
# function with a sensitive environment variable, ECS, a load balancer.
resource "aws_key_pair" "ops" {
  key_name   = "lab-ops"
  public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHBfdXh0c2JjN2dZbVdmRkxGa0s4cXBRcW9UcVNPVm5t lab"
}

resource "aws_instance" "web" {
  ami                    = "ami-12c6146b"
  instance_type          = "t3.micro"
  subnet_id              = aws_subnet.private[0].id
  vpc_security_group_ids = [aws_security_group.web.id]
  key_name               = aws_key_pair.ops.key_name
  iam_instance_profile   = aws_iam_instance_profile.app.name
  metadata_options {
    http_tokens = "required"
  }
  tags = { Name = "lab-web" }
}

resource "aws_ebs_volume" "data" {
  availability_zone = "us-east-1a"
  size              = 10
  encrypted         = true
  kms_key_id        = aws_kms_key.data.arn
  tags              = { Name = "lab-data" }
}

resource "aws_launch_template" "web" {
  name          = "lab-web"
  image_id      = "ami-12c6146b"
  instance_type = "t3.micro"
  metadata_options {
    http_tokens = "required"
  }
}

resource "aws_lambda_function" "worker" {
  function_name    = "lab-worker"
  role             = aws_iam_role.app.arn
  handler          = "index.handler"
  runtime          = "python3.12"
  filename         = "${path.module}/lambda.zip"
  source_code_hash = filebase64sha256("${path.module}/lambda.zip")
  timeout          = 30
  environment {
    variables = {
      API_TOKEN = var.api_token
      LOG_LEVEL = "info"
    }
  }
}

resource "aws_ecs_cluster" "main" {
  name = "lab-main"
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_task_definition" "app" {
  family                   = "lab-app"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = "256"
  memory                   = "512"
  container_definitions = jsonencode([{
    name         = "app"
    image        = "lab-app:1"
    essential    = true
    portMappings = [{ containerPort = 8080, protocol = "tcp" }]
  }])
}

resource "aws_lb" "web" {
  name               = "lab-web"
  internal           = true
  load_balancer_type = "application"
  security_groups    = [aws_security_group.web.id]
  subnets            = aws_subnet.private[*].id
}

resource "aws_lb_target_group" "web" {
  name     = "lab-web"
  port     = 8080
  protocol = "HTTP"
  vpc_id   = aws_vpc.main.id
}

resource "aws_lb_listener" "web" {
  load_balancer_arn = aws_lb.web.arn
  port              = 80
  protocol          = "HTTP"
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web.arn
  }
}

resource "aws_db_subnet_group" "main" {
  name       = "lab-main"
  subnet_ids = aws_subnet.private[*].id
}
