// The deploy pipeline of a service, defined once for every repository that deploys with deployer
// (this one included: its Jenkinsfile calls this step too). A service repository's Jenkinsfile is:
//
//   @Library('deployer') _
//   deployerPipeline(service: 'hello')
//
// Parameters, which the deploy-button page passes: SERVICE, ENVIRONMENT (staging|production),
// ACTION (deploy|rollback), REVISION (rollback target; empty: the release before the current one).
// ACTOR (the page's user, recorded as '<ACTOR> via <build URL>') and REQUEST_ID (the page's job id).
//
//   deploy to staging:     Build and test -> Deploy to staging
//   deploy to production:  Build and test -> Deploy to staging -> Approval -> Promote to production
//   rollback:              Roll back (ENVIRONMENT only; no build, no approval: it returns to a
//                          release that was already approved once)
//
// The image is built once, by the staging deploy; production never builds: it is promoted the digest
// this build's commit ran successfully on every staging cluster (`deployer promote --commit`).
//
// Every shell step is a single-quoted Groovy string: the shell, not Groovy, expands variables, so a
// bound credential never becomes part of a command line that Jenkins records. Each deploy stage binds
// exactly the credentials its environment's clusters name (deployerCredentials), archives deployer's
// JSON report and publishes its JUnit XML, even when the deploy fails. See docs/jenkins.md.

/** Options of deployerPipeline and their defaults; an unknown option is an error. */
static Map defaults() {
    return [
        service        : null,        // the SERVICE parameter's default (services/<service>.yaml); required
        agent          : 'deployer',  // label of the agents that can run deployer, git and buildah
        setup          : null,        // shell command run first in each agent stage, e.g. to install deployer
        binDir         : null,        // folder inside the workspace put in front of PATH, e.g. '.venv/bin'
        test           : null,        // shell command of the tests, run after `deployer validate`
        testResults    : null,        // JUnit XML files the test command writes (an Ant glob)
        configDir      : null,        // folder holding clusters/, services/, charts/ (default:
                                      // $DEPLOYER_CONFIG_DIR of the agent, else the workspace)
        approvers      : null,        // Jenkins users or groups who may approve production (comma-separated);
                                      // null: anyone who may build the job
        approvalTimeout: 24,          // hours the approval waits before the build is aborted
        lockWait       : '10m',       // how long a deploy waits for another one's lock (--wait-for-lock)
    ]
}

def call(Map options = [:]) {
    Map cfg = settings(options)

    pipeline {
        // No agent holds an executor while the build waits for approval; each working stage takes one.
        agent none
        parameters {
            string(name: 'SERVICE', defaultValue: cfg.service, trim: true,
                   description: 'The service to deploy or roll back: services/<SERVICE>.yaml')
            choice(name: 'ENVIRONMENT', choices: ['staging', 'production'],
                   description: 'production deploys to staging first, then waits for approval')
            choice(name: 'ACTION', choices: ['deploy', 'rollback'],
                   description: 'deploy: build, test and deploy this commit; rollback: return ENVIRONMENT to an earlier release')
            string(name: 'REVISION', defaultValue: '', trim: true,
                   description: 'rollback only: the release revision to return to (empty: the one before the current)')
            // Set by the deploy page (docs/jenkins.md, "Buttons that run through Jenkins"): who pressed the
            // button, recorded with this build's URL in the locks and release records, and the page's job id,
            // so the page can tell its build from any other. Empty when a person starts the build in Jenkins.
            string(name: 'ACTOR', defaultValue: '', trim: true,
                   description: 'who asked for this build (the deploy page\'s user); recorded with the build URL')
            string(name: 'REQUEST_ID', defaultValue: '', trim: true,
                   description: 'the deploy page\'s job id for this build (empty when started in Jenkins)')
        }
        stages {
            stage('Build and test') {
                when { beforeAgent true; expression { params.ACTION == 'deploy' } }
                agent { label cfg.agent }
                steps { script { buildAndTest(cfg) } }
                post { always { script { publishTestResults(cfg) } } }
            }
            stage('Deploy to staging') {
                when { beforeAgent true; expression { params.ACTION == 'deploy' } }
                agent { label cfg.agent }
                steps { script { deploy(cfg, 'staging') } }
                post { always { script { publishReport('deploy', 'staging') } } }
            }
            stage('Approval') {
                when { expression { params.ACTION == 'deploy' && params.ENVIRONMENT == 'production' } }
                steps { script { approve(cfg) } }
            }
            stage('Promote to production') {
                when { beforeAgent true; expression { params.ACTION == 'deploy' && params.ENVIRONMENT == 'production' } }
                agent { label cfg.agent }
                steps { script { promote(cfg, 'staging', 'production') } }
                post { always { script { publishReport('promote', 'production') } } }
            }
            stage('Roll back') {
                when { beforeAgent true; expression { params.ACTION == 'rollback' } }
                agent { label cfg.agent }
                steps { script { rollback(cfg, params.ENVIRONMENT) } }
                post { always { script { publishReport('rollback', params.ENVIRONMENT) } } }
            }
        }
    }
}

Map settings(Map options) {
    Map cfg = defaults()
    List unknown = []
    for (String key in options.keySet()) {
        if (!cfg.containsKey(key)) {
            unknown << key
        }
    }
    if (unknown) {
        error('deployerPipeline: unknown option ' + unknown.join(', ') + '; the options are ' + cfg.keySet().join(', '))
    }
    cfg.putAll(options)
    if (!cfg.service) {
        error('deployerPipeline: set service, e.g. deployerPipeline(service: \'hello\')')
    }
    return cfg
}

/** Runs body in an agent stage's workspace with deployer on PATH and pointed at the config. */
void withDeployer(Map cfg, Closure body) {
    List vars = ['DEPLOYER_CONFIG_DIR=' + configDir(cfg)]
    if (cfg.binDir) {
        vars << 'PATH+DEPLOYER=' + env.WORKSPACE + '/' + cfg.binDir
    }
    if (env.GIT_COMMIT) {
        vars << 'DEPLOYER_COMMIT=' + env.GIT_COMMIT  // the image tag's commit: the one Jenkins checked out
    }
    withEnv(vars) {
        if (cfg.setup) {
            sh(label: 'set up deployer', script: cfg.setup)
        }
        body()
    }
}

String configDir(Map cfg) {
    return cfg.configDir ?: env.DEPLOYER_CONFIG_DIR ?: '.'
}

void buildAndTest(Map cfg) {
    withDeployer(cfg) {
        sh(label: 'deployer validate', script: 'deployer validate')
        if (cfg.test) {
            sh(label: 'tests', script: cfg.test)
        }
    }
}

/**
 * Runs body with deployer set up and exactly the credentials of the environment's clusters bound (and,
 * for a promotion, of the source environment's clusters, whose releases it reads).
 */
void withTarget(Map cfg, String action, String environment, Closure body, String source = null) {
    List vars = ['DEPLOY_ENVIRONMENT=' + environment, 'DEPLOY_REPORT=' + reportName(action, environment),
                 'DEPLOY_LOCK_WAIT=' + cfg.lockWait]
    List environments = [environment]
    if (source) {
        vars << 'DEPLOY_SOURCE=' + source
        environments = [source, environment]
    }
    withDeployer(cfg) {
        withEnv(vars) {
            withCredentials(deployerCredentials(service: params.SERVICE, environments: environments,
                                                configDir: configDir(cfg))) {
                body()
            }
        }
    }
}

void deploy(Map cfg, String environment) {
    currentBuild.description = 'deploy ' + params.SERVICE + ' to ' + environment
    withTarget(cfg, 'deploy', environment) {
        sh(label: 'deployer deploy', script: '''\
rm -f "$DEPLOY_REPORT.json" "$DEPLOY_REPORT.junit.xml"
deployer --output json deploy "$SERVICE" --env "$DEPLOY_ENVIRONMENT" \\
  --report "$DEPLOY_REPORT.json" --junit "$DEPLOY_REPORT.junit.xml" \\
  --wait-for-lock "$DEPLOY_LOCK_WAIT" --actor "${ACTOR:+$ACTOR via }${BUILD_URL:-$JOB_NAME#$BUILD_NUMBER}"
''')
    }
}

/** Deploys to environment the digest this build's commit ran on every cluster of source: no build. */
void promote(Map cfg, String source, String environment) {
    currentBuild.description = 'promote ' + params.SERVICE + ' from ' + source + ' to ' + environment
    withTarget(cfg, 'promote', environment, {
        sh(label: 'deployer promote', script: '''\
rm -f "$DEPLOY_REPORT.json" "$DEPLOY_REPORT.junit.xml"
deployer --output json promote "$SERVICE" --from "$DEPLOY_SOURCE" --to "$DEPLOY_ENVIRONMENT" \\
  ${DEPLOYER_COMMIT:+--commit "$DEPLOYER_COMMIT"} \\
  --report "$DEPLOY_REPORT.json" --junit "$DEPLOY_REPORT.junit.xml" \\
  --wait-for-lock "$DEPLOY_LOCK_WAIT" --actor "${ACTOR:+$ACTOR via }${BUILD_URL:-$JOB_NAME#$BUILD_NUMBER}"
''')
    }, source)
}

void approve(Map cfg) {
    Map question = [message: 'Promote ' + params.SERVICE + ' to production?', ok: 'Promote to production']
    if (cfg.approvers) {
        question.submitter = cfg.approvers
    }
    // Milestones make an older build that is approved late give way to a newer one already past.
    milestone(label: 'before approval')
    timeout(time: cfg.approvalTimeout, unit: 'HOURS') {
        input(question)
    }
    milestone(label: 'approved')
}

void rollback(Map cfg, String environment) {
    currentBuild.description = 'roll back ' + params.SERVICE + ' in ' + environment
    withTarget(cfg, 'rollback', environment) {
        sh(label: 'deployer rollback', script: '''\
rm -f "$DEPLOY_REPORT.json" "$DEPLOY_REPORT.junit.xml"
deployer --output json rollback "$SERVICE" --env "$DEPLOY_ENVIRONMENT" ${REVISION:+--to "$REVISION"} \\
  --report "$DEPLOY_REPORT.json" --junit "$DEPLOY_REPORT.junit.xml" \\
  --wait-for-lock "$DEPLOY_LOCK_WAIT" --actor "${ACTOR:+$ACTOR via }${BUILD_URL:-$JOB_NAME#$BUILD_NUMBER}"
''')
    }
}

/** deployer-<action>-<environment>: the .json report and .junit.xml of one deploy or rollback. */
static String reportName(String action, String environment) {
    return 'deployer-' + action + '-' + environment
}

/** Archives the JSON report and publishes the JUnit XML; a deploy that failed early may have neither. */
void publishReport(String action, String environment) {
    String report = reportName(action, environment)
    archiveArtifacts(artifacts: report + '.json, ' + report + '.junit.xml', allowEmptyArchive: true)
    junit(testResults: report + '.junit.xml', allowEmptyResults: true)
}

void publishTestResults(Map cfg) {
    if (cfg.testResults) {
        junit(testResults: cfg.testResults, allowEmptyResults: true)
    }
}
