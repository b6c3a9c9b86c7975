"""The lab's mutation matrix: out-of-band changes made with the AWS API
(boto3, against moto), each with its ground truth.

Each mutation changes one security-relevant thing of one resource, the way
an operator with console access would. They run in batches (one capture
per batch) to keep a lab run short on a shared machine; the resources of a
batch are independent of each other (no two touch the same resource or a
parent and its split child), so each mutation's drift is its own.

Ground truth per mutation: the address that must drift, the attribute
(top-level) that carries it ("" for a deletion), the class (real:
something that matters was done out of band; noise for the last batch,
which rewrites policies in another form only) and the severity a security
engineer would defend (info for a change in form). Used as: python3 mutations.py ENDPOINT STATE_FILE BATCH OUT.json
"""
import json
import sys

import boto3

ACCOUNT = "123456789012"


def client(endpoint, service):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def state_index(path):
    """address -> attributes, from a terraform.tfstate (format 4)."""
    with open(path) as f:
        state = json.load(f)
    index = {}
    for resource in state["resources"]:
        if resource["mode"] != "managed":
            continue
        prefix = resource.get("module", "")
        base = (prefix + "." if prefix else "") + resource["type"] + "." + resource["name"]
        for instance in resource["instances"]:
            key = instance.get("index_key")
            if key is None:
                address = base
            elif isinstance(key, int):
                address = "%s[%d]" % (base, key)
            else:
                address = '%s["%s"]' % (base, key)
            index[address] = instance["attributes"]
    return index


def policy(statements):
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


# One entry: (name, address, attribute, severity, what, function(c, s)).
# c(service) gives a client, s(address) the resource's state attributes.
MUTATIONS = [
  # batch 1
  [
    ("sg-ssh-world", "aws_security_group.web", "ingress", "critical",
     "SSH opened to 0.0.0.0/0 on the web security group",
     lambda c, s: c("ec2").authorize_security_group_ingress(
         GroupId=s("aws_security_group.web")["id"],
         IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])),
    ("s3-public-access-off", 'module.bucket["assets"].aws_s3_bucket_public_access_block.this',
     "block_public_acls", "high", "public access block of the assets bucket turned off",
     lambda c, s: c("s3").put_public_access_block(
         Bucket="lab-assets", PublicAccessBlockConfiguration={
             "BlockPublicAcls": False, "IgnorePublicAcls": False,
             "BlockPublicPolicy": False, "RestrictPublicBuckets": False})),
    ("kms-rotation-off", "aws_kms_key.data", "enable_key_rotation", "medium",
     "key rotation turned off on the data key",
     lambda c, s: c("kms").disable_key_rotation(KeyId=s("aws_kms_key.data")["id"])),
    ("iam-policy-star", "aws_iam_policy.read_data", "policy", "critical",
     "managed policy rewritten to allow * on *",
     lambda c, s: (c("iam").create_policy_version(
         PolicyArn=s("aws_iam_policy.read_data")["arn"], SetAsDefault=True,
         PolicyDocument=policy([{"Effect": "Allow", "Action": "*", "Resource": "*"}])))),
    ("lambda-env-token", "aws_lambda_function.worker", "environment", "medium",
     "the sensitive API token of the worker function replaced",
     lambda c, s: c("lambda").update_function_configuration(
         FunctionName="lab-worker",
         Environment={"Variables": {"API_TOKEN": "stolen-token", "LOG_LEVEL": "info"}})),
    ("sqs-policy-public", 'module.queue["orders"].aws_sqs_queue_policy.this', "policy", "critical",
     "the orders queue policy opened to every principal",
     lambda c, s: c("sqs").set_queue_attributes(
         QueueUrl=s('module.queue["orders"].aws_sqs_queue.this')["id"],
         Attributes={"Policy": policy([{"Effect": "Allow", "Principal": "*",
                                        "Action": "sqs:*",
                                        "Resource": s('module.queue["orders"].aws_sqs_queue.this')["arn"]}])})),
    ("dynamodb-pitr-off", "aws_dynamodb_table.sessions", "point_in_time_recovery", "medium",
     "point-in-time recovery of the sessions table turned off",
     lambda c, s: c("dynamodb").update_continuous_backups(
         TableName="lab-sessions",
         PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})),
    ("log-retention-short", "aws_cloudwatch_log_group.app", "retention_in_days", "medium",
     "log retention of the app log group cut from 90 to 1 day",
     lambda c, s: c("logs").put_retention_policy(logGroupName="/lab/app", retentionInDays=1)),
    ("ecr-mutable", "aws_ecr_repository.app", "image_tag_mutability", "medium",
     "image tags of the app repository made mutable",
     lambda c, s: c("ecr").put_image_tag_mutability(repositoryName="lab-app",
                                                    imageTagMutability="MUTABLE")),
    ("ssm-password", "aws_ssm_parameter.db_password", "value", "high",
     "the database password parameter overwritten",
     lambda c, s: c("ssm").put_parameter(Name="/lab/db/password", Value="changed-by-hand",
                                         Type="SecureString", Overwrite=True)),
  ],
  # batch 2
  [
    ("sg-rule-db-world", "aws_security_group.db", "ingress", "critical",
     "PostgreSQL opened to the world on the database security group",
     lambda c, s: c("ec2").authorize_security_group_ingress(
         GroupId=s("aws_security_group.db")["id"],
         IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
                         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])),
    ("s3-versioning-suspended", 'module.bucket["logs"].aws_s3_bucket_versioning.this',
     "versioning_configuration", "medium", "versioning of the logs bucket suspended",
     lambda c, s: c("s3").put_bucket_versioning(
         Bucket="lab-logs", VersioningConfiguration={"Status": "Suspended"})),
    ("s3-policy-public", 'module.bucket["assets"].aws_s3_bucket_policy.this', "policy", "critical",
     "the assets bucket policy replaced by one granting s3:GetObject to everyone",
     lambda c, s: c("s3").put_bucket_policy(Bucket="lab-assets", Policy=policy([{
         "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::lab-assets/*"}]))),
    ("role-trust-any", "aws_iam_role.app", "assume_role_policy", "critical",
     "the app role's trust policy opened to every AWS principal",
     lambda c, s: c("iam").update_assume_role_policy(RoleName="lab-app", PolicyDocument=policy([{
         "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]))),
    ("sns-policy-public", 'module.queue["refunds"].aws_sns_topic_policy.this', "policy", "critical",
     "the refunds topic policy opened to every principal",
     lambda c, s: c("sns").set_topic_attributes(
         TopicArn=s('module.queue["refunds"].aws_sns_topic.this')["arn"],
         AttributeName="Policy", AttributeValue=policy([{
             "Effect": "Allow", "Principal": "*", "Action": "sns:Publish",
             "Resource": s('module.queue["refunds"].aws_sns_topic.this')["arn"]}]))),
    ("instance-imds-v1", "aws_instance.web", "metadata_options", "high",
     "IMDSv1 allowed again on the web instance (http_tokens optional)",
     lambda c, s: c("ec2").modify_instance_metadata_options(
         InstanceId=s("aws_instance.web")["id"], HttpTokens="optional")),
    ("kinesis-unencrypted", "aws_kinesis_stream.events", "encryption_type", "medium",
     "server-side encryption of the events stream turned off",
     lambda c, s: c("kinesis").stop_stream_encryption(
         StreamName="lab-events", EncryptionType="KMS", KeyId=s("aws_kms_key.data")["id"])),
    ("alarm-no-actions", "aws_cloudwatch_metric_alarm.errors", "alarm_actions", "medium",
     "the errors alarm no longer notifies anyone",
     lambda c, s: c("cloudwatch").put_metric_alarm(
         AlarmName="lab-errors", ComparisonOperator="GreaterThanThreshold", EvaluationPeriods=1,
         MetricName="Errors", Namespace="AWS/Lambda", Period=60, Statistic="Sum", Threshold=5,
         AlarmActions=[])),
    ("route53-record-redirect", "aws_route53_record.api", "records", "high",
     "the api record pointed at an outside address",
     lambda c, s: c("route53").change_resource_record_sets(
         HostedZoneId=s("aws_route53_zone.internal")["zone_id"], ChangeBatch={"Changes": [{
             "Action": "UPSERT", "ResourceRecordSet": {
                 "Name": "api.lab.internal", "Type": "A", "TTL": 300,
                 "ResourceRecords": [{"Value": "203.0.113.66"}]}}]})),
    ("vpc-dns-off", "aws_vpc.main", "enable_dns_hostnames", "low",
     "DNS hostnames turned off on the main VPC",
     lambda c, s: c("ec2").modify_vpc_attribute(
         VpcId=s("aws_vpc.main")["id"], EnableDnsHostnames={"Value": False})),
  ],
  # batch 3
  [
    ("nacl-rule-world", "aws_network_acl_rule.private_in", "cidr_block", "high",
     "the private network ACL's HTTPS rule opened to 0.0.0.0/0",
     lambda c, s: c("ec2").replace_network_acl_entry(
         NetworkAclId=s("aws_network_acl.private")["id"], RuleNumber=100, Protocol="6",
         RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0",
         PortRange={"From": 443, "To": 443})),
    ("route-hijack", "aws_route.default", "", "high",
     "the default route deleted from the public route table",
     lambda c, s: c("ec2").delete_route(
         RouteTableId=s("aws_route_table.public")["id"], DestinationCidrBlock="0.0.0.0/0")),
    ("role-inline-star", "aws_iam_role_policy.app_logs", "policy", "critical",
     "the role's inline logs policy rewritten to allow *",
     lambda c, s: c("iam").put_role_policy(RoleName="lab-app", PolicyName="logs",
                                           PolicyDocument=policy([{"Effect": "Allow",
                                                                   "Action": "*",
                                                                   "Resource": "*"}]))),
    ("group-policy-star", "aws_iam_group_policy.ops", "policy", "critical",
     "the ops group policy rewritten to allow *",
     lambda c, s: c("iam").put_group_policy(GroupName="lab-ops", PolicyName="ops-read",
                                            PolicyDocument=policy([{"Effect": "Allow",
                                                                    "Action": "*",
                                                                    "Resource": "*"}]))),
    ("s3-sse-deleted", 'module.bucket["logs"].aws_s3_bucket_server_side_encryption_configuration.this',
     "", "high", "default encryption of the logs bucket deleted",
     lambda c, s: c("s3").delete_bucket_encryption(Bucket="lab-logs")),
    ("secret-kms-changed", "aws_secretsmanager_secret.api", "kms_key_id", "medium",
     "the API secret moved to the AWS-managed key",
     lambda c, s: c("secretsmanager").update_secret(SecretId="lab/api-token",
                                                    KmsKeyId="alias/aws/secretsmanager")),
    ("ebs-tags", "aws_ebs_volume.data", "tags", "low",
     "the data volume's Name tag changed",
     lambda c, s: c("ec2").create_tags(Resources=[s("aws_ebs_volume.data")["id"]],
                                       Tags=[{"Key": "Name", "Value": "hand-edited"}])),
    ("event-rule-disabled", "aws_cloudwatch_event_rule.nightly", "state", "medium",
     "the nightly rule disabled",
     lambda c, s: c("events").disable_rule(Name="lab-nightly")),
    ("ecs-insights-off", "aws_ecs_cluster.main", "setting", "low",
     "container insights turned off on the main cluster",
     lambda c, s: c("ecs").update_cluster(
         cluster="lab-main", settings=[{"name": "containerInsights", "value": "disabled"}])),
    ("lb-deletion-protection", "aws_lb.web", "enable_deletion_protection", "low",
     "deletion protection turned on by hand",
     lambda c, s: c("elbv2").modify_load_balancer_attributes(
         LoadBalancerArn=s("aws_lb.web")["arn"],
         Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}])),
  ],
  # batch 4
  [
    ("egress-rule-world", "aws_vpc_security_group_egress_rule.db_out", "cidr_ipv4", "high",
     "the database egress rule opened to 0.0.0.0/0",
     lambda c, s: c("ec2").modify_security_group_rules(
         GroupId=s("aws_security_group.db")["id"], SecurityGroupRules=[{
             "SecurityGroupRuleId": s("aws_vpc_security_group_egress_rule.db_out")["id"],
             "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                                   "CidrIpv4": "0.0.0.0/0"}}])),
    ("sg-rule-deleted", "aws_security_group_rule.db_from_web", "", "high",
     "the database's ingress rule from the web tier deleted",
     lambda c, s: c("ec2").revoke_security_group_ingress(
         GroupId=s("aws_security_group.db")["id"], IpPermissions=[{
             "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
             "UserIdGroupPairs": [{"GroupId": s("aws_security_group.web")["id"]}]}])),
    ("user-tags", "aws_iam_user.deployer", "tags", "low",
     "the deployer user's team tag changed",
     lambda c, s: c("iam").tag_user(UserName="lab-deployer",
                                    Tags=[{"Key": "Team", "Value": "unknown"}])),
    ("nacl-tags", "aws_network_acl.private", "tags", "low", "the private network ACL's tags changed",
     lambda c, s: c("ec2").create_tags(Resources=[s("aws_network_acl.private")["id"]],
                                       Tags=[{"Key": "Name", "Value": "hand-edited"}])),
    ("group-membership-removed", "aws_iam_user_group_membership.deployer", "groups", "medium",
     "the deployer removed from the ops group",
     lambda c, s: c("iam").remove_user_from_group(GroupName="lab-ops", UserName="lab-deployer")),
    ("s3-lifecycle-deleted", 'module.bucket["assets"].aws_s3_bucket_lifecycle_configuration.this',
     "", "low", "the assets bucket's lifecycle rules deleted",
     lambda c, s: c("s3").delete_bucket_lifecycle(Bucket="lab-assets")),
    ("s3-ownership-acls", 'module.bucket["logs"].aws_s3_bucket_ownership_controls.this', "rule",
     "high", "ACLs enabled again on the logs bucket (ObjectWriter)",
     lambda c, s: c("s3").put_bucket_ownership_controls(
         Bucket="lab-logs", OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})),
    ("sqs-retention", 'module.queue["refunds"].aws_sqs_queue.this', "message_retention_seconds",
     "low", "message retention of the refunds queue cut to a minute",
     lambda c, s: c("sqs").set_queue_attributes(
         QueueUrl=s('module.queue["refunds"].aws_sqs_queue.this')["id"],
         Attributes={"MessageRetentionPeriod": "60"})),
    ("ssm-feature-off", "aws_ssm_parameter.feature", "value", "medium",
     "the audit feature flag turned off",
     lambda c, s: c("ssm").put_parameter(Name="/lab/feature/flags", Value="audit=off",
                                         Type="String", Overwrite=True)),
    ("subnet-public-ip", "aws_subnet.private[1]", "map_public_ip_on_launch", "high",
     "the second private subnet gives instances public addresses",
     lambda c, s: c("ec2").modify_subnet_attribute(
         SubnetId=s("aws_subnet.private[1]")["id"], MapPublicIpOnLaunch={"Value": True})),
    ("kms-alias-retargeted", "aws_kms_alias.data", "target_key_id", "high",
     "the data alias pointed at another key",
     lambda c, s: c("kms").update_alias(
         AliasName="alias/lab-data",
         TargetKeyId=c("kms").create_key(Description="rogue")["KeyMetadata"]["KeyId"])),
  ],
  # batch 5
  [
    ("flow-log-deleted", "aws_flow_log.main", "", "high", "the VPC flow log deleted",
     lambda c, s: c("ec2").delete_flow_logs(FlowLogIds=[s("aws_flow_log.main")["id"]])),
    ("eip-tags", "aws_eip.nat", "tags", "low", "the NAT address's Name tag removed",
     lambda c, s: c("ec2").delete_tags(Resources=[s("aws_eip.nat")["id"]],
                                       Tags=[{"Key": "Name"}])),
    ("key-pair-deleted", "aws_key_pair.ops", "", "medium", "the ops key pair deleted",
     lambda c, s: c("ec2").delete_key_pair(KeyName="lab-ops")),
    ("rt-assoc-deleted", "aws_route_table_association.private[0]", "", "medium",
     "the first subnet's route table association removed",
     lambda c, s: c("ec2").disassociate_route_table(
         AssociationId=s("aws_route_table_association.private[0]")["id"])),
    ("igw-tags", "aws_internet_gateway.main", "tags", "low", "the gateway's Name tag changed",
     lambda c, s: c("ec2").create_tags(Resources=[s("aws_internet_gateway.main")["id"]],
                                       Tags=[{"Key": "Name", "Value": "hand-edited"}])),
    ("lt-deleted", "aws_launch_template.web", "", "high",
     "the web launch template deleted",
     lambda c, s: c("ec2").delete_launch_template(LaunchTemplateName="lab-web")),
    ("role-attachment-removed", "aws_iam_role_policy_attachment.app_read", "", "medium",
     "the read policy detached from the app role",
     lambda c, s: c("iam").detach_role_policy(RoleName="lab-app",
                                              PolicyArn=s("aws_iam_policy.read_data")["arn"])),
    ("user-attachment-removed", "aws_iam_user_policy_attachment.deployer", "", "medium",
     "the read policy detached from the deployer",
     lambda c, s: c("iam").detach_user_policy(UserName="lab-deployer",
                                              PolicyArn=s("aws_iam_policy.read_data")["arn"])),
    ("instance-profile-role", "aws_iam_instance_profile.app", "role", "high",
     "the app role removed from its instance profile",
     lambda c, s: c("iam").remove_role_from_instance_profile(InstanceProfileName="lab-app",
                                                             RoleName="lab-app")),
    ("tg-health-check", "aws_lb_target_group.web", "health_check", "low",
     "the target group's health check path changed",
     lambda c, s: c("elbv2").modify_target_group(
         TargetGroupArn=s("aws_lb_target_group.web")["arn"], HealthCheckPath="/hand")),
    ("sns-topic-unencrypted", 'module.queue["orders"].aws_sns_topic.this', "kms_master_key_id",
     "medium", "encryption of the orders topic turned off",
     lambda c, s: c("sns").set_topic_attributes(
         TopicArn=s('module.queue["orders"].aws_sns_topic.this')["arn"],
         AttributeName="KmsMasterKeyId", AttributeValue="")),
    ("rt-tags", "aws_route_table.public", "tags", "low", "the public route table's tags changed",
     lambda c, s: c("ec2").create_tags(Resources=[s("aws_route_table.public")["id"]],
                                       Tags=[{"Key": "Name", "Value": "hand-edited"}])),
  ],
  # batch 6
  [
    ("listener-port", "aws_lb_listener.web", "port", "medium",
     "the web listener moved to port 8081",
     lambda c, s: c("elbv2").modify_listener(ListenerArn=s("aws_lb_listener.web")["arn"],
                                             Port=8081)),
    # moto 5.2.1's ModifyDBSubnetGroup pops the group and never puts it
    # back (moto/rds/models.py), so in the mock this deletes the group.
    ("db-subnet-group", "aws_db_subnet_group.main", "", "medium",
     "the subnet group modified, which moto turns into its deletion",
     lambda c, s: c("rds").modify_db_subnet_group(
         DBSubnetGroupName="lab-main", DBSubnetGroupDescription="hand edited",
         SubnetIds=[s("aws_subnet.private[0]")["id"], s("aws_subnet.private[1]")["id"]])),
    ("ecr-lifecycle-deleted", "aws_ecr_lifecycle_policy.app", "", "low",
     "the repository's lifecycle policy deleted",
     lambda c, s: c("ecr").delete_lifecycle_policy(repositoryName="lab-app")),
    ("event-target-deleted", "aws_cloudwatch_event_target.nightly", "", "medium",
     "the nightly rule's target removed",
     lambda c, s: c("events").remove_targets(
         Rule="lab-nightly", Ids=[s("aws_cloudwatch_event_target.nightly")["target_id"]])),
    ("sns-subscription-deleted", 'module.queue["orders"].aws_sns_topic_subscription.this', "",
     "medium", "the orders subscription deleted",
     lambda c, s: c("sns").unsubscribe(
         SubscriptionArn=s('module.queue["orders"].aws_sns_topic_subscription.this')["arn"])),
    ("secret-value", "aws_secretsmanager_secret_version.api", "version_stages", "high",
     "a new current value put into the API secret (the managed version is no longer "
     "AWSCURRENT)",
     lambda c, s: c("secretsmanager").put_secret_value(SecretId="lab/api-token",
                                                       SecretString="changed-by-hand")),
    ("task-def-deregistered", "aws_ecs_task_definition.app", "", "medium",
     "the app task definition deregistered",
     lambda c, s: c("ecs").deregister_task_definition(
         taskDefinition=s("aws_ecs_task_definition.app")["arn"])),
    ("iam-group-deleted-policy", "aws_iam_group.ops", "", "high",
     "the ops group deleted (its policy and members first)",
     lambda c, s: (c("iam").delete_group_policy(GroupName="lab-ops", PolicyName="ops-read"),
                   c("iam").delete_group(GroupName="lab-ops"))),
    ("zone-comment", "aws_route53_zone.internal", "comment", "low",
     "the zone's comment changed",
     lambda c, s: c("route53").update_hosted_zone_comment(
         Id=s("aws_route53_zone.internal")["zone_id"], Comment="hand edited")),
    ("bucket-tags", 'module.bucket["logs"].aws_s3_bucket.this', "tags", "low",
     "the logs bucket's tags replaced",
     lambda c, s: c("s3").put_bucket_tagging(
         Bucket="lab-logs", Tagging={"TagSet": [{"Key": "Name", "Value": "hand-edited"}]})),
  ],
  # batch 7: changes in form only (the same policies written another way).
  # Their truth is noise: nothing that matters changed.
  [
    ("iam-policy-form", "aws_iam_policy.read_data", "policy", "info",
     "the managed policy rewritten in another form (one statement as an object, lists for "
     "single values, other member order)",
     lambda c, s: c("iam").create_policy_version(
         PolicyArn=s("aws_iam_policy.read_data")["arn"], SetAsDefault=True,
         PolicyDocument='{"Statement": {"Resource": ["*"], "Action": ["*"], "Effect": "Allow"},'
                        ' "Version": "2012-10-17"}')),
    ("sqs-policy-form", 'module.queue["orders"].aws_sqs_queue_policy.this', "policy", "info",
     "the orders queue policy rewritten in another form",
     lambda c, s: c("sqs").set_queue_attributes(
         QueueUrl=s('module.queue["orders"].aws_sqs_queue.this')["id"],
         Attributes={"Policy": json.dumps({"Statement": {
             "Resource": [s('module.queue["orders"].aws_sqs_queue.this')["arn"]],
             "Action": ["sqs:*"], "Principal": "*", "Effect": "Allow"},
             "Version": "2012-10-17"}, indent=2)})),
    ("s3-policy-form", 'module.bucket["assets"].aws_s3_bucket_policy.this', "policy", "info",
     "the assets bucket policy rewritten in another form",
     lambda c, s: c("s3").put_bucket_policy(Bucket="lab-assets", Policy=json.dumps({
         "Statement": {"Resource": ["arn:aws:s3:::lab-assets/*"], "Action": ["s3:GetObject"],
                       "Principal": "*", "Effect": "Allow"},
         "Version": "2012-10-17"}, indent=1))),
    ("role-trust-form", "aws_iam_role.app", "assume_role_policy", "info",
     "the app role's trust policy rewritten in another form",
     lambda c, s: c("iam").update_assume_role_policy(RoleName="lab-app", PolicyDocument=json.dumps({
         "Statement": [{"Action": ["sts:AssumeRole"], "Principal": {"AWS": ["*"]},
                        "Effect": "Allow"}], "Version": "2012-10-17"}))),
  ],
]


def main():
    endpoint, state_file, batch, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    index = state_index(state_file)
    clients = {}

    def c(service):
        if service not in clients:
            clients[service] = client(endpoint, service)
        return clients[service]

    truth = []
    for name, address, attribute, severity, what, function in MUTATIONS[batch - 1]:
        function(c, lambda a: index[a])
        truth.append({"name": name, "address": address, "attribute": attribute,
                      "class": "noise" if severity == "info" else "real",
                      "severity": severity, "what": what})
        print("lab: mutated %s (%s)" % (name, address), file=sys.stderr)
    with open(out, "w") as f:
        json.dump({"batch": batch, "mutations": truth}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
