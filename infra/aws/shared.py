"""What every function shares: the network, the database, the secrets, the bucket, the sender."""

from __future__ import annotations

from typing import Any

from infra import settings as cloud
from infra.aws.cfn import Resources, get_att, logical_id, ref, sub
from infra.aws.parameters import ses_identity

DATABASE_NAME = "skiplock"
DATABASE_PORT = 3306
_RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
_SNAPSHOT = {"DeletionPolicy": "Snapshot", "UpdateReplacePolicy": "Snapshot"}


def resources() -> Resources:
    """The shared resources, by logical id."""
    return {**_network(), **_secrets(), **_database(), **_bucket_and_sender()}


def _network() -> Resources:
    return {
        "FunctionSecurityGroup": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "skiplock functions: outbound to the database and AWS APIs",
                "VpcId": ref("VpcId"),
            },
        },
        "DatabaseSecurityGroup": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "skiplock database: MySQL from the functions only",
                "VpcId": ref("VpcId"),
                "SecurityGroupIngress": [
                    {
                        "IpProtocol": "tcp",
                        "FromPort": DATABASE_PORT,
                        "ToPort": DATABASE_PORT,
                        "SourceSecurityGroupId": get_att("FunctionSecurityGroup", "GroupId"),
                    }
                ],
            },
        },
    }


def secret_id(setting: str) -> str:
    """The logical id of the secret setting ``setting`` (``API_TOKEN`` -> ``ApiTokenSecret``)."""
    return logical_id(setting.lower(), "Secret")


def _generated(description: str) -> dict[str, Any]:
    return {
        "Type": "AWS::SecretsManager::Secret",
        "Properties": {
            "Description": description,
            "GenerateSecretString": {"PasswordLength": 48, "ExcludePunctuation": True},
        },
        **_RETAIN,
    }


def _secrets() -> Resources:
    generated = {
        secret_id(setting): _generated(f"skiplock {setting}: {secret.description}")
        for setting, secret in cloud.secrets()
    }
    return {
        **generated,
        "DatabaseSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Description": "skiplock database user (JSON: username, password)",
                "GenerateSecretString": {
                    "SecretStringTemplate": '{"username": "skiplock"}',
                    "GenerateStringKey": "password",
                    "PasswordLength": 32,
                    "ExcludePunctuation": True,
                },
            },
            **_RETAIN,
        },
    }


def _database() -> Resources:
    secret = "{{resolve:secretsmanager:${DatabaseSecret}:SecretString:%s}}"
    return {
        "DatabaseSubnetGroup": {
            "Type": "AWS::RDS::DBSubnetGroup",
            "Properties": {
                "DBSubnetGroupDescription": "skiplock database subnets",
                "SubnetIds": ref("SubnetIds"),
            },
        },
        "Database": {
            "Type": "AWS::RDS::DBInstance",
            "Properties": {
                "Engine": "mysql",
                "EngineVersion": ref("DatabaseEngineVersion"),
                "DBInstanceClass": ref("DatabaseInstanceClass"),
                "AllocatedStorage": ref("DatabaseAllocatedStorage"),
                "StorageType": "gp3",
                "StorageEncrypted": True,
                "DBName": DATABASE_NAME,
                "Port": str(DATABASE_PORT),
                "MasterUsername": sub(secret % "username"),
                "MasterUserPassword": sub(secret % "password"),
                "DBSubnetGroupName": ref("DatabaseSubnetGroup"),
                "VPCSecurityGroups": [get_att("DatabaseSecurityGroup", "GroupId")],
                "MultiAZ": ref("DatabaseMultiAz"),
                "PubliclyAccessible": False,
                "BackupRetentionPeriod": 7,
                "CopyTagsToSnapshot": True,
                "DeletionProtection": ref("DatabaseDeletionProtection"),
            },
            **_SNAPSHOT,
        },
    }


def _bucket_and_sender() -> Resources:
    return {
        "Bucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            },
            **_RETAIN,
        },
        "SenderIdentity": {
            "Type": "AWS::SES::EmailIdentity",
            "Properties": {"EmailIdentity": ses_identity()},
        },
    }
