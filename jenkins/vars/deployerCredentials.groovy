// The withCredentials bindings that a deploy of one service to one environment needs, read from
// the files deployer itself reads, so the list of bindings is never written down twice:
// services/<service>.yaml names the environment's target clusters, and each
// clusters/<cluster>.yaml names the variable its `credential` is read from.
//
//   credential: {type: token, env: VAR}              -> string(credentialsId: 'deployer-<cluster>', variable: VAR)
//   credential: {type: serviceAccountKey, fileEnv: VAR} -> file(credentialsId: 'deployer-<cluster>', variable: VAR)
//   credential: {type: applicationDefault, ...}       -> nothing: deployer uses the agent's own Google identity
//   credential: {..., file: PATH}                     -> refused: Jenkins binds a file at a path of its choosing
//
// The Jenkins credential id of a cluster is always deployer-<cluster> (docs/jenkins.md). Only the
// deploy identity (`credential`) is bound; `adminCredential` is for cluster sync, not for deploys.
// Needs the pipeline-utility-steps plugin (readYaml).

/** The Jenkins credential id holding a cluster's deploy credential. */
static String credentialId(String cluster) {
    return 'deployer-' + cluster
}

/**
 * deployerCredentials(service: 'hello', environment: 'staging', configDir: '.')
 * returns the list to pass to withCredentials. A promotion reads the source environment's releases
 * and deploys to the target's: environments: ['staging', 'production'] binds the clusters of both,
 * each cluster once.
 */
List call(Map args) {
    String service = args.service
    List environments = args.environments ?: [args.environment]
    String configDir = args.configDir ?: '.'
    if (!isName(service)) {
        error('deployer: SERVICE must be a service name such as hello (lowercase letters, digits and -), not "' + service + '"')
    }
    String serviceFile = configDir + '/services/' + service + '.yaml'
    if (!fileExists(serviceFile)) {
        error('deployer: no service file ' + serviceFile + '; SERVICE must name a file under services/')
    }
    Map declared = readYaml(file: serviceFile).environments ?: [:]
    List clusters = []
    for (String environment in environments) {
        Map target = declared[environment]
        if (target == null || !target.clusters) {
            error('deployer: ' + serviceFile + ' has no clusters for environment ' + environment +
                  '; add environments.' + environment + '.clusters to it')
        }
        for (String cluster in target.clusters) {
            if (!clusters.contains(cluster)) {
                clusters << cluster
            }
        }
    }

    List bindings = []
    Map boundBy = [:]  // variable -> cluster, to refuse two clusters sharing one variable
    List lines = []
    for (String cluster in clusters) {
        String clusterFile = configDir + '/clusters/' + cluster + '.yaml'
        if (!fileExists(clusterFile)) {
            error('deployer: ' + serviceFile + ' targets cluster ' + cluster + ' but ' + clusterFile + ' does not exist')
        }
        Map credential = readYaml(file: clusterFile).credential ?: [:]
        String id = credentialId(cluster)
        String variable = null
        if (credential.type == 'token' && credential.env) {
            variable = credential.env
            bindings << string(credentialsId: id, variable: variable)
            lines << cluster + ': secret text ' + id + ' -> $' + variable
        } else if (credential.type == 'serviceAccountKey' && credential.fileEnv) {
            variable = credential.fileEnv
            bindings << file(credentialsId: id, variable: variable)
            lines << cluster + ': secret file ' + id + ' -> $' + variable + ' (the key file\'s path)'
        } else if (credential.type == 'applicationDefault') {
            lines << cluster + ': no Jenkins credential (the agent\'s Google application default credentials)'
        } else if (credential.file) {
            error('deployer: ' + clusterFile + ' reads its credential from file ' + credential.file +
                  ', which Jenkins cannot bind; declare `env: VAR` (token) or `fileEnv: VAR` (key file) ' +
                  'and store the secret as Jenkins credential ' + id + ' (docs/jenkins.md)')
        } else {
            error('deployer: ' + clusterFile + ' has a credential of type ' + credential.type +
                  ' that this pipeline cannot bind (docs/jenkins.md)')
        }
        if (variable != null) {
            if (boundBy.containsKey(variable)) {
                error('deployer: clusters ' + boundBy[variable] + ' and ' + cluster + ' both read their credential from $' +
                      variable + '; give each cluster its own variable so each gets only its own credential')
            }
            boundBy[variable] = cluster
        }
    }
    echo('deployer credentials for ' + service + ' in ' + environments.join(' and ') + ':\n  ' + lines.join('\n  '))
    return bindings
}

static boolean isName(String value) {
    return value != null && value.matches('[a-z0-9]([-a-z0-9]*[a-z0-9])?') && value.length() <= 63
}
