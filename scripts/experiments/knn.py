import numpy as np, pickle, json
D='/work/shared/toolmmbench/'
cat=[json.loads(l) for l in open(D+'catalog.jsonl')]; ids=[c['id'] for c in cat]
z=np.load('split.npz'); Xtr,ytr,Xdv,Xte,Ec,T=[z[k] for k in ['Xtr','ytr','Xdv','Xte','Ec','T']]
trn,dev,te=pickle.load(open('split.pkl','rb')); N=len(ids)
def acc(S,xs,k=1):
    top=np.argsort(-S,1)[:,:k]
    return np.mean([any(ids[j] in x['ans'] for j in t) for t,x in zip(top,xs)])
for nm,X,xs in [('dev',Xdv,dev),('test',Xte,te)]:
    Sim=X@Xtr.T
    # per-tool max and top-3 mean
    M=np.full((len(X),N),-1.0)
    for c in range(N):
        cols=np.where(ytr==c)[0]
        if len(cols): 
            s=np.sort(Sim[:,cols],1)[:,::-1]
            M[:,c]=s[:,:3].mean(1)
    S=X@T.T
    for a in [0,0.3,0.5,0.7,1.0]:
        F=a*S+(1-a)*M; print(nm,a,round(acc(F,xs),4),round(acc(F,xs,5),4),flush=True)
